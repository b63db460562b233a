// The pack key a layer hands gemm() for its weights while Net.freezeWeights is in force: gemm()
// keeps them packed between passes under that key. Each freeze makes a new version, so weights
// frozen again after a change are packed again.
import type { GemmPackKey } from '../kernels/gemm.js';

export class FrozenWeights {
  private version = 0;
  /** The key for gemm()'s A operand when it is the weights; null while not frozen. */
  key: GemmPackKey | null = null;

  set(frozen: boolean): void {
    this.version++;
    this.key = frozen ? { version: this.version } : null;
  }

  /** A number that changes at every freeze while frozen (for caches of derived data); null when not. */
  get frozenVersion(): number | null {
    return this.key === null ? null : this.version;
  }
}
