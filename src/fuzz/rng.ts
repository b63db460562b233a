// The fuzzer's random numbers: one small generator per input, seeded from (run seed, input
// index), so any single input can be regenerated without replaying the run before it.

/** splitmix32-style mixing of a 32-bit state. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export class FuzzRng {
  private s: number;
  constructor(seed: number, index = 0) {
    this.s = mix((seed >>> 0) ^ mix(index + 0x9e3779b9)) || 1;
  }
  /** A uniform 32-bit unsigned integer (mulberry32). */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.u32() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }
  chance(p: number): boolean {
    return this.u32() < p * 4294967296;
  }
}
