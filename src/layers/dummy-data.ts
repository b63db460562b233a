// DummyData: tops filled by fillers, for tests and placeholders (Caffe's DummyDataLayer).
// Shapes: `shape` (once or once per top) or the legacy num/channels/height/width (each once or
// once per top). `data_filler`: none (constant 0), one for all tops, or one per top. As in Caffe,
// tops with a constant filler are filled once at setup; the others are refilled on every forward.
import type { Blob } from '../graph/blob.js';
import { fillBlob } from '../graph/filler.js';
import { fromObject, newMessage, toNumber, type Message } from '../proto/schema.js';
import { Layer } from './layer.js';
import { registerLayer } from './registry.js';

export class DummyDataLayer extends Layer {
  private fillers: Message[] = [];
  private refill: boolean[] = [];

  override get type(): string {
    return 'DummyData';
  }
  override exactNumBottomBlobs(): number {
    return 0;
  }
  override minTopBlobs(): number {
    return 1;
  }

  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    const dp: Message = this.param.dummy_data_param ?? newMessage('DummyDataParameter');
    const numTop = top.length;
    const fillers: Message[] = dp.data_filler ?? [];
    this.check(fillers.length <= 1 || fillers.length === numTop,
      () => `give data_filler 0, 1 or ${numTop} (one per top) times; got ${fillers.length}`);
    const list = (name: string): number[] => Array.from(dp[name] ?? [], (v: any) => toNumber(v));
    const num = list('num');
    const channels = list('channels');
    const height = list('height');
    const width = list('width');
    const shapes: Message[] = dp.shape ?? [];
    const legacy = num.length + channels.length + height.length + width.length > 0;
    if (legacy) {
      this.check(shapes.length === 0, 'give either shape or the legacy num/channels/height/width, not both');
      for (const [name, v] of [['num', num], ['channels', channels], ['height', height], ['width', width]] as const) {
        this.check(v.length === 1 || v.length === numTop,
          () => `give '${name}' once or once per top (${numTop}); got ${v.length}`);
      }
    } else {
      this.check(shapes.length === 1 || shapes.length === numTop,
        () => `give 'shape' once or once per top (${numTop}); got ${shapes.length}`);
    }

    if (fillers.length <= 1) {
      this.fillers = [fillers.length === 1 ? fillers[0] : fromObject('FillerParameter', { type: 'constant', value: 0 })];
    } else {
      this.fillers = fillers.slice();
    }
    // Inverted for the fill at setup: only constant tops are filled now.
    this.refill = this.fillers.map((f) => f.type === 'constant');

    const pick = (v: number[], i: number) => (v.length === 1 ? v[0] : v[i]);
    top.forEach((t, i) => {
      let dims: number[];
      if (legacy) dims = [pick(num, i), pick(channels, i), pick(height, i), pick(width, i)];
      else dims = Array.from(shapes[shapes.length === 1 ? 0 : i].dim ?? [], (d: any) => toNumber(d));
      this.check(dims.every((d) => Number.isInteger(d) && d >= 0),
        () => `shape (${dims.join(',')}) for top[${i}] has a negative dimension`);
      t.reshape(dims);
    });
    this.forwardCpu(bottom, top);
    this.refill = this.refill.map((r) => !r);
  }

  override reshape(_bottom: Blob[], _top: Blob[]): void {}

  protected override forwardCpu(_bottom: Blob[], top: Blob[]): void {
    top.forEach((t, i) => {
      const f = this.fillers.length > 1 ? i : 0;
      if (this.refill[f]) {
        try {
          fillBlob(t, this.fillers[f]);
        } catch (e) {
          throw this.error(`data_filler for top[${i}]: ${(e as Error).message}`);
        }
      }
    });
  }
}

registerLayer('DummyData', DummyDataLayer);
