// Which kernel a Convolution layer takes (src/layers/convolution.ts): Winograd for eligible 3x3
// layers of nets that only infer, im2col + GEMM where a backward reads the forward; both give the
// same output to float32 rounding, with and without the fused epilogue.
import { describe, expect, it } from 'vitest';
import { Net } from '../src/graph/net.js';
import { parseText } from '../src/format/text.js';
import { setSeed } from '../src/kernels/rng.js';
import { setWinograd } from '../src/layers/convolution.js';

const NET = (force: boolean) => `${force ? 'force_backward: true' : ''}
input: "data" input_shape { dim: 2 dim: 16 dim: 30 dim: 27 }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 40 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } bias_filler { type: "gaussian" std: 0.3 } } }
layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2" convolution_param { num_output: 36 kernel_size: 3 weight_filler { type: "xavier" } bias_filler { type: "gaussian" std: 0.3 } } }
layer { name: "r2" type: "ReLU" bottom: "c2" top: "c2" }`;

function run(force: boolean, winograd: boolean): { out: Float32Array; tiles: number[] } {
  const old = setWinograd(winograd);
  try {
    setSeed(9);
    const net = new Net(parseText(NET(force), 'NetParameter'), { phase: 'TEST' });
    const x = Float32Array.from({ length: 2 * 16 * 30 * 27 }, (_, i) => Math.sin(i * 0.13));
    net.forward({ data: x });
    const tiles = ['c1', 'c2'].map((n) => (net.layer(n) as unknown as { winoTile: number }).winoTile);
    return { out: Float32Array.from(net.blob('c2').data), tiles };
  } finally {
    setWinograd(old);
  }
}

describe('Convolution kernel dispatch', () => {
  it('an inference net takes Winograd for its 3x3 layers, with the GEMM path\'s results', () => {
    const w = run(false, true);
    const g = run(false, false);
    expect(w.tiles.every((t) => t === 2 || t === 4)).toBe(true);
    expect(g.tiles).toEqual([0, 0]);
    let err = 0;
    let max = 0;
    for (let i = 0; i < g.out.length; i++) {
      err = Math.max(err, Math.abs(w.out[i] - g.out[i]));
      max = Math.max(max, Math.abs(g.out[i]));
    }
    expect(err / max).toBeLessThan(2e-5);
  });
  it('a net that will run backward keeps im2col + GEMM', () => {
    expect(run(true, true).tiles).toEqual([0, 0]);
  });
});
