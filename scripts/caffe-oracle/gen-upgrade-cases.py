# Runs inside the Caffe chroot: an upgrade case (fixtures/FORMAT.md, kind "upgrade") for every
# .prototxt (net or solver) and .caffemodel under argv[1] that Caffe's upgrade tools accept, under
# argv[2]. Files Caffe cannot parse (fork layers, fork fields) are listed and skipped.
import json, os, shutil, subprocess, sys
src, out = sys.argv[1], sys.argv[2]
made = 0
for dirpath, _, files in sorted(os.walk(src)):
    for f in sorted(files):
        path = os.path.join(dirpath, f)
        rel = os.path.relpath(path, src)
        if f.endswith('.prototxt'):
            what = 'solver' if 'solver' in f else 'net'
            tool, ext = f'upgrade_{what}_proto_text', 'prototxt'
        elif f.endswith('.caffemodel'):
            what, tool, ext = 'binary', 'upgrade_net_proto_binary', 'caffemodel'
        else:
            continue
        d = os.path.join(out, rel.replace('/', '__').rsplit('.', 1)[0] + ('_bin' if what == 'binary' else ''))
        os.makedirs(d, exist_ok=True)
        shutil.copy(path, os.path.join(d, f'in.{ext}'))
        # The tools write their output even after upgrade errors they report (and exit 1 then).
        subprocess.run([tool, os.path.join(d, f'in.{ext}'), os.path.join(d, f'expected.{ext}')], capture_output=True, text=True)
        if not os.path.exists(os.path.join(d, f'expected.{ext}')):
            print('Caffe refused', rel)
            shutil.rmtree(d)
            continue
        json.dump({'format': 1, 'kind': 'upgrade', 'name': 'upgrade/' + os.path.basename(d), 'what': what,
                   'input': f'in.{ext}', 'source': rel, 'expected': f'expected.{ext}'}, open(os.path.join(d, 'case.json'), 'w'), indent=1)
        made += 1
print(made, 'cases')
