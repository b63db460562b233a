# NetState filtering: one net whose layers carry include/exclude rules, built in both phases at
# several levels and stage sets (the file's own state adds a stage), plus layers whose own phase
# field overrides the net's (Dropout, BatchNorm).
from common import *  # noqa: F401,F403

RULED = [
    ('train_only', 'include { phase: TRAIN }'),
    ('test_a', 'include { phase: TEST stage: "a" }'),
    ('min1', 'include { min_level: 1 }'),
    ('max0_b', 'include { max_level: 0 stage: "b" }'),
    ('ex_a', 'exclude { stage: "a" }'),
    ('not_b', 'include { not_stage: "b" }'),
    ('a_and_b', 'include { stage: "a" stage: "b" }'),
    ('a_or_b', 'include { stage: "a" } include { stage: "b" }'),
    ('ex_test_or_l2', 'exclude { phase: TEST } exclude { min_level: 2 }'),
    ('file_stage', 'include { stage: "c" }'),
    ('c_not_a', 'include { stage: "c" not_stage: "a" }'),
]
layers = ''.join(one('Power', f'power_param {{ scale: {i + 2} shift: 0.5 }} {rule}', ('x',), (f'y_{n}',), n) for i, (n, rule) in enumerate(RULED))
layers += one('Dropout', 'phase: TEST dropout_param { dropout_ratio: 0.5 }', ('x',), ('drop',), 'drop_test_phase')
layers += one('BatchNorm', 'phase: TEST', ('x',), ('bn',), 'bn_test_phase')
for level in (0, 1, 2):
    for stages in ([], ['a'], ['b'], ['a', 'b']):
        name = f'rules/level{level}_{"".join(stages) or "none"}'
        case(name, layers, {'x': N(2, 3, 2, 2)}, stages=stages, level=level)
for s in specs:
    s['net'] = s['net'].replace('force_backward: true\n', 'force_backward: true\nstate { stage: "c" }\n', 1)
emit()
