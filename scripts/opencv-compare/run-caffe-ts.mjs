// Runs a net with caffe-ts for compare.py (needs `npm run build`):
//   node run-caffe-ts.mjs NET.prototxt WEIGHTS|- OUTDIR name=input.npy... [--save-weights PATH]
// Writes OUTDIR/<blob>.npy for every net output; with --save-weights, first gives every parameter
// random values (He-scaled normal weights; BatchNorm: random mean, variance in [0.5, 1.5), scale
// factor 1) and saves them as a caffemodel, so OpenCV reads the same weights.
import { join } from 'node:path';
import { Net, readNpyAsFloat32, writeNpy } from '../../dist/src/index.js';

const args = process.argv.slice(2);
const saveAt = args.indexOf('--save-weights');
const savePath = saveAt >= 0 ? args.splice(saveAt, 2)[1] : null;
const [proto, weights, outDir, ...inputs] = args;
const net = Net.fromFiles(proto, weights === '-' ? null : weights, { phase: 'TEST' });
let seed = 12345;
const uniform = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
if (savePath) {
  for (const [name, blobs] of net.params) {
    if (net.layer(name).type === 'BatchNorm') {
      blobs[0].data.forEach((_, i, a) => (a[i] = 0.2 * normal()));
      blobs[1].data.forEach((_, i, a) => (a[i] = 0.5 + uniform()));
      blobs[2].data[0] = 1;
      continue;
    }
    for (const b of blobs) {
      const fanIn = b.count / Math.max(1, b.shape[0]);
      b.data.forEach((_, i, a) => (a[i] = normal() * Math.sqrt(2 / Math.max(1, fanIn))));
    }
  }
  net.save(savePath);
}
const feed = {};
for (const kv of inputs) {
  const [name, path] = kv.split('=');
  feed[name] = readNpyAsFloat32(path);
}
net.forward(feed);
for (const name of net.outputs) {
  const b = net.blob(name);
  writeNpy(join(outDir, `${name.replace(/\W/g, '_')}.npy`), b.shape, b.data);
}
