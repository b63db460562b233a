// Caffe's HDF5 weights layout (Net::ToHDF5 / CopyTrainedLayersFromHDF5, net.cpp): a group "data"
// (and "diff" when diffs are written) with one group per layer, named as the layer, holding
// parameter j as dataset "j" of the blob's shape. Shared parameters are written only by their
// owner (diffs by every layer), and on reading a missing dataset is fine only for a parameter the
// net shares from another layer.
import type { H5Entry, H5Tree } from '../data/hdf5.js';
import { NetError } from '../util/errors.js';
import type { Net } from './net.js';

/** Throws unless every layer name can be a group of an HDF5 weights file. */
export function checkHdf5LayerNames(net: Net): void {
  const seen = new Set<string>();
  for (const name of net.layerNames) {
    // HDF5 reads '/' as a path separator and creates a group name once; Caffe's H5Gcreate2 fails on both.
    if (name.includes('/') || name === '' || name === '.' || seen.has(name)) {
      throw new NetError(
        `layer '${name}': ${seen.has(name) ? 'a second layer of this name' : 'this name'} cannot be a group of an HDF5 weights file (Caffe fails on it too); write the binary format instead`,
      );
    }
    seen.add(name);
  }
}

/** The HDF5 tree Net::ToHDF5 writes for `net`. */
export function netToHdf5Tree(net: Net, writeDiff: boolean): H5Tree {
  checkHdf5LayerNames(net);
  const groups = writeDiff ? ['data', 'diff'] : ['data'];
  const datasets: H5Entry[] = [];
  const netParamId = paramIdIndex(net);
  net.layers.forEach((layer, layerId) => {
    const name = net.layerNames[layerId];
    groups.push(`data/${name}`);
    if (writeDiff) groups.push(`diff/${name}`);
    layer.blobs.forEach((blob, j) => {
      const id = netParamId.get(`${layerId}:${j}`)!;
      if (net.paramOwners[id] === -1) datasets.push({ path: `data/${name}/${j}`, shape: blob.shape.slice(), kind: 'float', data: blob.data });
      if (writeDiff) datasets.push({ path: `diff/${name}/${j}`, shape: blob.shape.slice(), kind: 'float', data: blob.diff });
    });
  });
  return { groups, datasets };
}

/** Net::CopyTrainedLayersFromHDF5: copies parameters by layer name from a tree read from `source`. */
export function copyTrainedLayersFromHdf5Tree(net: Net, tree: H5Tree, source: string): void {
  if (!tree.groups.includes('data')) throw new NetError(`${source}: no group 'data' (not an HDF5 weights file Caffe writes)`);
  const byPath = new Map(tree.datasets.map((d) => [d.path, d]));
  const netParamId = paramIdIndex(net);
  // The layers under data/, in the file's link order; nested names stay whole paths.
  const sourceLayers = [...tree.groups.filter((g) => /^data\/[^/]+$/.test(g)), ...tree.datasets.filter((d) => /^data\/[^/]+$/.test(d.path)).map((d) => d.path)];
  for (const groupPath of sourceLayers) {
    const name = groupPath.slice('data/'.length);
    // Caffe looks names up in layer_names_index_, where the last layer of a name wins.
    const target = net.layerNames.lastIndexOf(name);
    if (target < 0) continue;
    if (byPath.has(groupPath)) throw new NetError(`${source}: 'data/${name}' is a dataset; a layer's parameters are a group`);
    const blobs = net.layers[target].blobs;
    const links = tree.groups.filter((g) => g.startsWith(`${groupPath}/`) && !g.slice(groupPath.length + 1).includes('/')).length
      + tree.datasets.filter((d) => d.path.startsWith(`${groupPath}/`) && !d.path.slice(groupPath.length + 1).includes('/')).length;
    if (links > blobs.length) {
      throw new NetError(`${source}: layer '${name}' holds ${links} parameter(s) but the net's layer has ${blobs.length}`);
    }
    blobs.forEach((blob, j) => {
      const entry = byPath.get(`${groupPath}/${j}`);
      if (!entry) {
        if (net.paramOwners[netParamId.get(`${target}:${j}`)!] !== -1) return; // shared from another layer
        throw new NetError(`${source}: layer '${name}' has no parameter ${j} (dataset '${groupPath}/${j}'); the net's layer has ${blobs.length}`);
      }
      if (entry.kind === 'string' || !entry.data) throw new NetError(`${source}: dataset '${entry.path}' holds a string, not numbers`);
      if (entry.shape.length !== blob.shape.length || entry.shape.some((d, k) => d !== blob.shape[k])) {
        throw new NetError(`${source}: cannot copy param ${j} of layer '${name}': shape mismatch, source (${entry.shape.join(',')}), target ${blob.shapeString()}`);
      }
      const d = blob.data;
      const s = entry.data;
      for (let i = 0; i < d.length; i++) d[i] = s[i];
    });
  }
}

/** "layerId:paramId" -> net param id (Caffe's param_id_vecs_). */
function paramIdIndex(net: Net): Map<string, number> {
  const m = new Map<string, number>();
  net.paramLayerIndices.forEach(([l, p], id) => m.set(`${l}:${p}`, id));
  return m;
}
