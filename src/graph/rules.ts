// Layer filtering by NetState, as Caffe's Net::FilterNet and Net::StateMeetsRule.
import { cloneMessage, has, type Message } from '../proto/schema.js';
import { NetError } from '../util/errors.js';

/** Whether a NetState satisfies one NetStateRule. */
export function stateMeetsRule(state: Message, rule: Message): boolean {
  if (has(rule, 'phase') && rule.phase !== state.phase) return false;
  if (has(rule, 'min_level') && state.level < rule.min_level) return false;
  if (has(rule, 'max_level') && state.level > rule.max_level) return false;
  const stages: string[] = state.stage ?? [];
  for (const s of rule.stage as string[]) if (!stages.includes(s)) return false;
  for (const s of rule.not_stage as string[]) if (stages.includes(s)) return false;
  return true;
}

/** Whether a layer is kept in a net of the given state (include/exclude rules). */
export function layerIncluded(layer: Message, state: Message): boolean {
  const include: Message[] = layer.include;
  const exclude: Message[] = layer.exclude;
  if (include.length > 0 && exclude.length > 0) {
    throw new NetError(`layer '${layer.name}': specify either include rules or exclude rules, not both`);
  }
  if (include.length === 0) return !exclude.some((r) => stateMeetsRule(state, r));
  return include.some((r) => stateMeetsRule(state, r));
}

/** A copy of the net holding only the layers its state includes. */
export function filterNet(net: Message): Message {
  const out = cloneMessage(net, 'NetParameter');
  out.layer = (net.layer as Message[]).filter((l) => layerIncluded(l, net.state)).map((l) => cloneMessage(l, 'LayerParameter'));
  return out;
}
