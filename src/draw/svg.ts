// Lays a NetGraph out with dagre (layered, like Graphviz's dot that draw_net.py uses) and writes
// it as a self-contained SVG: layers as boxes, in-place layers in draw.py's green, blobs as
// octagons, edges with arrowheads and their labels. Text is monospace so that box sizes can be
// computed without a font engine. Every layer box is a <g class="layer"> carrying the layer's
// name and type (data-name, data-type), so that tests and tools can find it.
import dagre from '@dagrejs/dagre';
import type { NetGraph, RankDir } from './graph.js';

const FONT = 12;
const CHAR_W = FONT * 0.6; // monospace advance
const LINE_H = FONT * 1.3;
const PAD_X = 10;
const PAD_Y = 6;
const MARGIN = 20;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function textSize(lines: string[]): { width: number; height: number } {
  return { width: Math.max(...lines.map((l) => l.length), 1) * CHAR_W, height: lines.length * LINE_H };
}

/** An octagon inscribed in the w x h box centred at (x, y). */
function octagon(x: number, y: number, w: number, h: number): string {
  const dx = Math.min(w, h) * 0.25;
  const l = x - w / 2;
  const r = x + w / 2;
  const t = y - h / 2;
  const b = y + h / 2;
  const pts = [[l + dx, t], [r - dx, t], [r, t + dx], [r, b - dx], [r - dx, b], [l + dx, b], [l, b - dx], [l, t + dx]];
  return pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
}

function textLines(lines: string[], x: number, y: number): string {
  const top = y - (lines.length * LINE_H) / 2 + LINE_H * 0.75;
  return lines.map((l, i) => `<text x="${x.toFixed(1)}" y="${(top + i * LINE_H).toFixed(1)}" text-anchor="middle">${esc(l)}</text>`).join('');
}

/** The SVG picture of a net graph. */
export function renderSvg(graph: NetGraph, rankdir: RankDir = 'LR'): string {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir, nodesep: 20, ranksep: 36, edgesep: 10, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) {
    const { width, height } = textSize(n.lines);
    const extra = n.kind === 'blob' ? 2 : 1; // octagon corners need room
    g.setNode(n.id, { width: width + 2 * PAD_X * extra, height: height + 2 * PAD_Y * extra });
  }
  graph.edges.forEach((e, i) => {
    const lab = e.label ? { width: e.label.length * CHAR_W + 4, height: LINE_H, labelpos: 'c' as const } : {};
    g.setEdge(e.from, e.to, { ...lab }, `e${i}`);
  });
  dagre.layout(g);
  const { width = 0, height = 0 } = g.graph() as { width?: number; height?: number };
  const W = Math.ceil(width);
  const H = Math.ceil(height);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="${FONT}">`);
  out.push(`<title>${esc(graph.name || 'net')}</title>`);
  out.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>');
  out.push('<rect width="100%" height="100%" fill="#fff"/>');
  out.push('<g class="edges" fill="none" stroke="#333" stroke-width="1.2">');
  graph.edges.forEach((e, i) => {
    const ed = g.edge({ v: e.from, w: e.to, name: `e${i}` }) as { points: { x: number; y: number }[] };
    const d = ed.points.map((p, j) => `${j ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" marker-end="url(#arrow)"/>`);
  });
  out.push('</g><g class="edge-labels" fill="#333" stroke="#fff" stroke-width="4" paint-order="stroke">');
  graph.edges.forEach((e, i) => {
    if (!e.label) return;
    const ed = g.edge({ v: e.from, w: e.to, name: `e${i}` }) as { x: number; y: number };
    out.push(`<text x="${ed.x.toFixed(1)}" y="${(ed.y + FONT * 0.35).toFixed(1)}" text-anchor="middle">${esc(e.label)}</text>`);
  });
  out.push('</g><g class="nodes" stroke="#333">');
  for (const n of graph.nodes) {
    const p = g.node(n.id) as { x: number; y: number; width: number; height: number };
    const x0 = p.x - p.width / 2;
    const y0 = p.y - p.height / 2;
    const text = `<g stroke="none" fill="#000">${textLines(n.lines, p.x, p.y)}</g>`;
    if (n.kind === 'blob') {
      out.push(`<g class="blob" data-name="${esc(n.name)}"><polygon points="${octagon(p.x, p.y, p.width, p.height)}" fill="${n.fill}"/>${text}</g>`);
    } else {
      out.push(
        `<g class="layer${n.kind === 'inplace' ? ' inplace' : ''}" data-name="${esc(n.name)}" data-type="${esc(n.type ?? '')}"><title>${esc(n.name)} (${esc(n.type ?? '')})</title>` +
          `<rect x="${x0.toFixed(1)}" y="${y0.toFixed(1)}" width="${p.width.toFixed(1)}" height="${p.height.toFixed(1)}" fill="${n.fill}"/>${text}</g>`,
      );
    }
  }
  out.push('</g></svg>');
  return out.join('\n') + '\n';
}
