// Layers that make blobs without bottoms and are not graph inputs.
import { newMessage } from '../proto/schema.js';
import { registerConverter } from './registry.js';

registerConverter('DummyData', (c) => {
  // Only constant fillers are a fixed tensor; the others draw at random each forward.
  const p = c.layer.param.dummy_data_param ?? newMessage('DummyDataParameter');
  const fillers: any[] = p.data_filler ?? [];
  c.tops.forEach((_, k) => {
    const f = fillers.length === 0 ? newMessage('FillerParameter') : fillers[fillers.length === 1 ? 0 : k];
    if (f.type !== 'constant') throw c.error(`top ${k} is filled by a '${f.type}' filler at random; only 'constant' fillers are a fixed tensor`);
    const shape = c.topShapes[k];
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(f.value);
    c.op('Identity', [c.g.floatTensor(`${c.name}/data_${k}`, shape, data)], k);
  });
});
