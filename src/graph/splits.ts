// Split insertion, as Caffe's InsertSplits: a top consumed by more than one bottom (a nonzero
// loss weight counts as a consumer) feeds a Split layer whose tops go one to each consumer.
import { cloneMessage, newMessage, type Message } from '../proto/schema.js';
import { NetError } from '../util/errors.js';

export function splitLayerName(layer: string, blob: string, topIndex: number): string {
  return `${blob}_${layer}_${topIndex}_split`;
}

export function splitBlobName(layer: string, blob: string, topIndex: number, k: number): string {
  return `${blob}_${layer}_${topIndex}_split_${k}`;
}

export function insertSplits(net: Message): Message {
  const layers: Message[] = net.layer;
  const key = (i: number, j: number) => `${i}/${j}`;
  const lastTop = new Map<string, [number, number]>();
  const bottomSource = new Map<string, [number, number]>();
  const consumers = new Map<string, number>();
  const lossWeight = new Map<string, number>();
  const splitIndex = new Map<string, number>();

  layers.forEach((layer, i) => {
    (layer.bottom as string[]).forEach((blob, j) => {
      const src = lastTop.get(blob);
      if (!src) throw new NetError(`layer '${layer.name}' (${layer.type}): unknown bottom blob '${blob}' (bottom index ${j}); no earlier layer produces it`);
      bottomSource.set(key(i, j), src);
      consumers.set(key(...src), (consumers.get(key(...src)) ?? 0) + 1);
    });
    (layer.top as string[]).forEach((blob, j) => lastTop.set(blob, [i, j]));
    const lw: ArrayLike<number> = layer.loss_weight;
    const lastLoss = Math.min(lw.length, layer.top.length);
    for (let j = 0; j < lastLoss; j++) {
      const src = lastTop.get(layer.top[j])!;
      lossWeight.set(key(...src), lw[j]);
      if (lw[j]) consumers.set(key(...src), (consumers.get(key(...src)) ?? 0) + 1);
    }
  });

  const out = cloneMessage(net, 'NetParameter');
  out.layer = [];
  layers.forEach((orig, i) => {
    const layer = cloneMessage(orig, 'LayerParameter');
    out.layer.push(layer);
    layer.bottom = (layer.bottom as string[]).map((blob, j) => {
      const src = bottomSource.get(key(i, j))!;
      const k = key(...src);
      if ((consumers.get(k) ?? 0) <= 1) return blob;
      const idx = splitIndex.get(k) ?? 0;
      splitIndex.set(k, idx + 1);
      return splitBlobName(layers[src[0]].name, blob, src[1], idx);
    });
    (layer.top as string[]).forEach((blob, j) => {
      const k = key(i, j);
      const count = consumers.get(k) ?? 0;
      if (count <= 1) return;
      const lw = lossWeight.get(k) ?? 0;
      const split = newMessage('LayerParameter');
      split.name = splitLayerName(layer.name, blob, j);
      split.type = 'Split';
      split.bottom = [blob];
      split.top = [];
      const weights: number[] = [];
      for (let s = 0; s < count; s++) {
        split.top.push(splitBlobName(layer.name, blob, j, s));
        if (lw) weights.push(s === 0 ? lw : 0);
      }
      if (lw) split.loss_weight = Float32Array.from(weights);
      out.layer.push(split);
      if (lw) {
        layer.loss_weight = new Float32Array(0);
        splitIndex.set(k, (splitIndex.get(k) ?? 0) + 1);
      }
    });
  });
  return out;
}
