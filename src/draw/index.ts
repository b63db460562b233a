// Net pictures as draw_net.py draws them (see graph.ts), laid out by dagre and written as SVG.
import type { Message } from '../proto/schema.js';
import { netGraph, type RankDir } from './graph.js';
import { renderSvg } from './svg.js';

export { netGraph, layerLabel, edgeLabel, type NetGraph, type GraphNode, type GraphEdge, type RankDir } from './graph.js';
export { renderSvg } from './svg.js';

export interface DrawOptions {
  /** Graph direction, draw_net.py's --rankdir (default LR). */
  rankdir?: RankDir;
  /** Keep only the layers of this phase (draw_net.py's --phase); default: every layer. */
  phase?: 'TRAIN' | 'TEST' | null;
}

/** The SVG picture of an (upgraded) NetParameter, as draw_net.py would draw it. */
export function drawNet(net: Message, options: DrawOptions = {}): string {
  const rankdir = options.rankdir ?? 'LR';
  const phase = options.phase === 'TRAIN' ? 0 : options.phase === 'TEST' ? 1 : null;
  return renderSvg(netGraph(net, rankdir, phase), rankdir);
}
