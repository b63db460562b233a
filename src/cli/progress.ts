// A one-line progress bar for `caffe-ts train` on a terminal:
//   [=========>          ]  4500/10000  loss 0.1234     lr 0.01      52.3 it/s  ETA 1:45
// redrawn in place (carriage return + erase line) at most every `intervalMs`; log lines printed
// meanwhile go above it (the bar is erased, the line written, the bar drawn again).
import { formatG } from '../solvers/solver.js';
import type { OutStream } from './flags.js';

export interface BarState {
  iter: number;
  total: number;
  /** The smoothed loss (Caffe's displayed loss). */
  loss: number;
  lr: number;
  /** Iterations per second (NaN while unknown). */
  rate: number;
}

/** Seconds as m:ss or h:mm:ss ("--:--" when unknown). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function formatRate(rate: number): string {
  if (!Number.isFinite(rate) || rate <= 0) return '- it/s';
  if (rate >= 1) return `${rate >= 100 ? rate.toFixed(0) : rate.toFixed(1)} it/s`;
  return `${(1 / rate).toFixed(rate > 0.1 ? 1 : 0)} s/it`;
}

/** The bar line for a terminal `columns` wide (no control characters). */
export function formatBar(s: BarState, columns = 80): string {
  const total = Math.max(s.total, 0);
  const frac = total > 0 ? Math.min(Math.max(s.iter / total, 0), 1) : 1;
  const digits = String(total).length;
  const eta = s.rate > 0 && Number.isFinite(s.rate) ? (total - s.iter) / s.rate : NaN;
  const info =
    ` ${String(s.iter).padStart(digits)}/${total}` +
    `  loss ${formatG(s.loss).padEnd(10)} lr ${formatG(s.lr).padEnd(8)} ${formatRate(s.rate).padStart(9)}  ETA ${formatDuration(s.iter >= total ? 0 : eta)}`;
  // The bar's width depends on the columns only, so it does not jump as the numbers change.
  const width = Math.min(30, columns - 1 - 2 - (digits * 2 + 54));
  if (width < 8) return info.trimStart().replace(/ {2,}/g, '  ').slice(0, Math.max(columns - 1, 1));
  const filled = Math.floor(frac * width);
  const bar = frac >= 1 ? '='.repeat(width) : '='.repeat(filled) + '>' + ' '.repeat(width - filled - 1);
  return `[${bar}]${info}`;
}

export interface ProgressOptions {
  total: number;
  /** Minimum time between redraws (ms). */
  intervalMs?: number;
  /** Seconds of history the it/s estimate looks at. */
  windowSeconds?: number;
  now?: () => number;
}

export class ProgressBar {
  private readonly samples: { t: number; iter: number }[] = [];
  private state: BarState | null = null;
  private visible = false;
  private lastDraw = -Infinity;
  private readonly intervalMs: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  total: number;

  constructor(
    private readonly stream: OutStream,
    options: ProgressOptions,
  ) {
    this.total = options.total;
    this.intervalMs = options.intervalMs ?? 100;
    this.windowMs = (options.windowSeconds ?? 10) * 1000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Marks where timing starts (the iteration training resumes from). */
  start(iter: number): void {
    this.samples.length = 0;
    this.samples.push({ t: this.now(), iter });
  }

  /** Iterations per second over the recent window (NaN before two samples). */
  rate(): number {
    const n = this.samples.length;
    if (n < 2) return NaN;
    const a = this.samples[0];
    const b = this.samples[n - 1];
    const dt = (b.t - a.t) / 1000;
    return dt > 0 ? (b.iter - a.iter) / dt : NaN;
  }

  update(iter: number, loss: number, lr: number): void {
    const t = this.now();
    this.samples.push({ t, iter });
    // keep the window, but always two samples
    while (this.samples.length > 2 && t - this.samples[1].t >= this.windowMs) this.samples.shift();
    this.state = { iter, total: this.total, loss, lr, rate: this.rate() };
    if (t - this.lastDraw >= this.intervalMs || iter >= this.total) this.draw();
  }

  /** Writes a line above the bar. */
  log(line: string): void {
    this.erase();
    this.stream.write(line + '\n');
    if (this.state) this.draw();
  }

  /** Draws the final state and moves to a new line. */
  finish(): void {
    if (this.state) {
      this.draw();
      this.stream.write('\n');
    }
    this.visible = false;
    this.state = null;
  }

  private erase(): void {
    if (this.visible) this.stream.write('\r\x1b[2K');
    this.visible = false;
  }

  private draw(): void {
    if (!this.state) return;
    const line = formatBar(this.state, this.stream.columns || 80);
    this.stream.write(`\r\x1b[2K${line}`);
    this.visible = true;
    this.lastDraw = this.now();
  }
}
