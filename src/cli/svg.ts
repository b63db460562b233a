// The loss curve `caffe-ts train` writes beside the snapshots (<snapshot_prefix>_loss.svg): a
// small self-contained SVG writer (axes, ticks, grid, legend) for the train loss per iteration
// (raw, and smoothed over average_loss iterations as Caffe displays it) and the test-net outputs
// at every test. Loss outputs share the left axis with the train loss; other outputs (accuracy
// ...) get a right axis. The data is embedded in a <metadata> element so that a run resumed with
// --snapshot can redraw the whole history.
import type { TestResult } from '../solvers/solver.js';

export interface TrainPoint {
  /** Caffe's iteration number for the loss (the one its display line shows). */
  iter: number;
  loss: number;
  smoothed: number;
}

export interface TestSeries {
  net: number;
  name: string;
  lossWeight: number;
  points: { iter: number; value: number }[];
}

export interface LossCurveData {
  train: TrainPoint[];
  tests: TestSeries[];
}

export interface SvgOptions {
  title?: string;
  width?: number;
  height?: number;
  /** At most this many points per drawn line (longer runs are averaged in buckets). */
  maxPoints?: number;
}

const METADATA_ID = 'caffe-ts-loss-curve';
const PALETTE = ['#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

/** Collects the points of a training run. */
export class LossCurve {
  readonly data: LossCurveData = { train: [], tests: [] };

  addTrain(iter: number, loss: number, smoothed: number): void {
    this.data.train.push({ iter, loss, smoothed });
  }

  addTest(r: TestResult): void {
    if (r.interrupted) return;
    const add = (name: string, lossWeight: number, value: number) => {
      let s = this.data.tests.find((t) => t.net === r.netId && t.name === name);
      if (!s) {
        s = { net: r.netId, name, lossWeight, points: [] };
        this.data.tests.push(s);
      }
      s.points.push({ iter: r.iter, value });
    };
    // A blob with several elements gives several scores: name them name[k].
    const counts = new Map<string, number>();
    for (const o of r.outputs) counts.set(o.name, (counts.get(o.name) ?? 0) + 1);
    const seen = new Map<string, number>();
    for (const o of r.outputs) {
      const k = seen.get(o.name) ?? 0;
      seen.set(o.name, k + 1);
      add(counts.get(o.name)! > 1 ? `${o.name}[${k}]` : o.name, o.lossWeight, o.value);
    }
  }

  /** Prepends the history of an earlier run, keeping what happened before iteration `iter`. */
  prependHistory(previous: LossCurveData, iter: number): void {
    const train = previous.train.filter((p) => p.iter < iter);
    this.data.train.unshift(...train);
    for (const old of previous.tests) {
      const pts = old.points.filter((p) => p.iter < iter);
      if (!pts.length) continue;
      let s = this.data.tests.find((t) => t.net === old.net && t.name === old.name);
      if (!s) {
        s = { net: old.net, name: old.name, lossWeight: old.lossWeight, points: [] };
        this.data.tests.push(s);
      }
      s.points.unshift(...pts);
    }
  }

  toSvg(options: SvgOptions = {}): string {
    return renderLossCurve(this.data, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks

export interface Ticks {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
}

/** "Nice" tick positions (steps of 1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6, integer = false): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (!(hi > lo)) {
    const d = lo !== 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(target, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.ceil(step));
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
}

/** A tick label with as many decimals as the step needs. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, Math.min(3, -Math.floor(Math.log10(step / a)))));
  let decimals = 0;
  while (decimals < 8 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6 * 10 ** decimals) decimals++;
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Escapes element text (quotes may stay). */
function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

/** Averages a series into at most `max` buckets (non-finite values are skipped). */
export function downsample<T extends object>(points: T[], max: number, keys: (keyof T)[]): T[] {
  if (points.length <= max) return points;
  const size = Math.ceil(points.length / max);
  const out: T[] = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    const o = {} as Record<string, number>;
    for (const k of keys) {
      const vals = bucket.map((p) => p[k] as unknown as number).filter(Number.isFinite);
      o[k as string] = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN;
    }
    out.push(o as unknown as T);
  }
  return out;
}

const round6 = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : null);

/** The <metadata> payload: the data (train points averaged down to at most 4000). */
function metadataJson(data: LossCurveData): string {
  const train = downsample(data.train, 4000, ['iter', 'loss', 'smoothed']);
  return JSON.stringify({
    version: 1,
    train: train.map((p) => [Math.round(p.iter), round6(p.loss), round6(p.smoothed)]),
    tests: data.tests.map((s) => ({
      net: s.net,
      name: s.name,
      lossWeight: s.lossWeight,
      points: s.points.map((p) => [p.iter, round6(p.value)]),
    })),
  });
}

/** Reads back the data a loss-curve SVG embeds; null when there is none (or it is unreadable). */
export function parseLossCurveSvg(svg: string): LossCurveData | null {
  const m = new RegExp(`<metadata id="${METADATA_ID}">([\\s\\S]*?)</metadata>`).exec(svg);
  if (!m) return null;
  try {
    const j = JSON.parse(unescapeXml(m[1]));
    if (j?.version !== 1 || !Array.isArray(j.train) || !Array.isArray(j.tests)) return null;
    const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
    return {
      train: j.train.map((p: unknown[]) => ({ iter: num(p[0]), loss: num(p[1]), smoothed: num(p[2]) })),
      tests: j.tests.map((s: { net: number; name: string; lossWeight: number; points: unknown[][] }) => ({
        net: num(s.net),
        name: String(s.name),
        lossWeight: num(s.lossWeight),
        points: s.points.map((p) => ({ iter: num(p[0]), value: num(p[1]) })),
      })),
    };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing

/** An SVG path through the points; non-finite values break the line. */
function pathData(points: { x: number; y: number }[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

function extent(values: number[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

export function renderLossCurve(data: LossCurveData, options: SvgOptions = {}): string {
  const W = options.width ?? 800;
  const H = options.height ?? 480;
  const maxPoints = options.maxPoints ?? 1000;
  const lossTests = data.tests.filter((s) => s.lossWeight !== 0);
  const scoreTests = data.tests.filter((s) => s.lossWeight === 0);
  const multiNet = new Set(data.tests.map((s) => s.net)).size > 1;
  const testLabel = (s: TestSeries) => `test${multiNet ? ` #${s.net}` : ''} ${s.name}`;

  const train = downsample(data.train, maxPoints, ['iter', 'loss', 'smoothed']);
  const showSmoothed = data.train.some((p) => p.smoothed !== p.loss && Number.isFinite(p.smoothed));

  const L = 70;
  const R = scoreTests.length ? 70 : 30;
  const T = 40;
  const B = 50;
  const pw = W - L - R;
  const ph = H - T - B;

  const iters = [...data.train.map((p) => p.iter), ...data.tests.flatMap((s) => s.points.map((p) => p.iter))];
  const xe = extent(iters) ?? [0, 1];
  const xt = niceTicks(xe[0], xe[1], 8, true);
  const lossVals = [...data.train.flatMap((p) => [p.loss, p.smoothed]), ...lossTests.flatMap((s) => s.points.map((p) => p.value))];
  const le = extent(lossVals) ?? [0, 1];
  const yt = niceTicks(Math.min(0, le[0]), le[1], 6);
  const se = extent(scoreTests.flatMap((s) => s.points.map((p) => p.value)));
  const st = se ? niceTicks(Math.min(0, se[0]), se[1] <= 1 && se[0] >= 0 ? 1 : se[1], 5) : null;

  const sx = (v: number) => L + ((v - xt.lo) / (xt.hi - xt.lo)) * pw;
  const sy = (v: number) => T + ph - ((v - yt.lo) / (yt.hi - yt.lo)) * ph;
  const ss = (v: number) => (st ? T + ph - ((v - st.lo) / (st.hi - st.lo)) * ph : NaN);

  const o: string[] = [];
  o.push('<?xml version="1.0" encoding="UTF-8"?>');
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<metadata id="${METADATA_ID}">${escapeText(metadataJson(data))}</metadata>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  if (options.title) o.push(`<text x="${W / 2}" y="${T - 16}" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`);

  // grid and ticks
  o.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const v of yt.ticks) o.push(`<line x1="${L}" x2="${L + pw}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/>`);
  for (const v of xt.ticks) o.push(`<line x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${T}" y2="${T + ph}"/>`);
  o.push('</g>');
  o.push('<g class="axes" stroke="#333333" stroke-width="1" fill="none">');
  o.push(`<line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}"/>`);
  o.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}"/>`);
  if (st) o.push(`<line x1="${L + pw}" x2="${L + pw}" y1="${T}" y2="${T + ph}"/>`);
  for (const v of xt.ticks) o.push(`<line x1="${sx(v).toFixed(1)}" x2="${sx(v).toFixed(1)}" y1="${T + ph}" y2="${T + ph + 5}"/>`);
  for (const v of yt.ticks) o.push(`<line x1="${L - 5}" x2="${L}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/>`);
  if (st) for (const v of st.ticks) o.push(`<line x1="${L + pw}" x2="${L + pw + 5}" y1="${ss(v).toFixed(1)}" y2="${ss(v).toFixed(1)}"/>`);
  o.push('</g>');
  o.push('<g class="tick-labels" fill="#333333">');
  for (const v of xt.ticks) o.push(`<text x="${sx(v).toFixed(1)}" y="${T + ph + 18}" text-anchor="middle">${formatTick(v, xt.step)}</text>`);
  for (const v of yt.ticks) o.push(`<text x="${L - 8}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${formatTick(v, yt.step)}</text>`);
  if (st) for (const v of st.ticks) o.push(`<text x="${L + pw + 8}" y="${(ss(v) + 4).toFixed(1)}" text-anchor="start">${formatTick(v, st.step)}</text>`);
  o.push('</g>');
  o.push(`<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">iteration</text>`);
  o.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle">loss</text>`);
  if (st) o.push(`<text transform="translate(${W - 14} ${T + ph / 2}) rotate(90)" text-anchor="middle">score</text>`);

  // lines
  const legend: { label: string; color: string; width: number; dash?: string }[] = [];
  if (!iters.length) {
    o.push(`<text x="${L + pw / 2}" y="${T + ph / 2}" text-anchor="middle" fill="#999999">no data yet</text>`);
  }
  o.push(`<g class="lines" fill="none" stroke-linejoin="round">`);
  if (train.length) {
    const rawColor = showSmoothed ? '#9ecae1' : '#1f77b4';
    o.push(`<path class="train-loss" stroke="${rawColor}" stroke-width="1.2" d="${pathData(train.map((p) => ({ x: sx(p.iter), y: sy(p.loss) })))}"/>`);
    legend.push({ label: 'train loss', color: rawColor, width: 1.2 });
    if (showSmoothed) {
      o.push(`<path class="train-loss-smoothed" stroke="#1f77b4" stroke-width="2" d="${pathData(train.map((p) => ({ x: sx(p.iter), y: sy(p.smoothed) })))}"/>`);
      legend.push({ label: 'train loss (smoothed)', color: '#1f77b4', width: 2 });
    }
  }
  const drawTest = (s: TestSeries, i: number, scale: (v: number) => number, dash?: string) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.map((p) => ({ x: sx(p.iter), y: scale(p.value) }));
    o.push(`<path class="test" stroke="${color}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''} d="${pathData(pts)}"/>`);
    for (const p of pts) {
      if (Number.isFinite(p.x) && Number.isFinite(p.y)) o.push(`<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="2.5" fill="${color}" stroke="none"/>`);
    }
    legend.push({ label: testLabel(s) + (dash ? ' (right axis)' : ''), color, width: 1.6, dash });
  };
  lossTests.forEach((s, i) => drawTest(s, i, sy));
  scoreTests.forEach((s, i) => drawTest(s, lossTests.length + i, ss, '5,3'));
  o.push('</g>');

  // legend, top right of the plot area
  if (legend.length) {
    const lw = Math.max(...legend.map((e) => e.label.length)) * 6.6 + 44;
    const lx = L + pw - lw - 8;
    const ly = T + 8;
    o.push(`<g class="legend">`);
    o.push(`<rect x="${lx.toFixed(1)}" y="${ly}" width="${lw.toFixed(1)}" height="${legend.length * 18 + 8}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`);
    legend.forEach((e, i) => {
      const y = ly + 16 + i * 18;
      o.push(
        `<line x1="${(lx + 8).toFixed(1)}" x2="${(lx + 32).toFixed(1)}" y1="${y - 4}" y2="${y - 4}" stroke="${e.color}" stroke-width="${e.width}"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}/>`,
      );
      o.push(`<text x="${(lx + 38).toFixed(1)}" y="${y}" fill="#333333">${escapeXml(e.label)}</text>`);
    });
    o.push('</g>');
  }
  o.push('</svg>');
  return o.join('\n') + '\n';
}
