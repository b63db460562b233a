// node:os in the browser bundle.
declare const navigator: { hardwareConcurrency?: number; deviceMemory?: number } | undefined;

export function availableParallelism(): number {
  return typeof navigator === 'object' && navigator?.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
}

export function cpus(): unknown[] {
  return new Array(availableParallelism()).fill({});
}

/** The page's memory is capped by the engine (4 GiB of wasm memory, less for arrays): say so. */
export function totalmem(): number {
  const gb = typeof navigator === 'object' && navigator?.deviceMemory ? navigator.deviceMemory : 4;
  return Math.min(gb, 4) * 2 ** 30;
}

export function tmpdir(): string {
  return '/tmp';
}

export default { availableParallelism, cpus, totalmem, tmpdir };
