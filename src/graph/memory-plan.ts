// Activation memory for inference: when no layer will run backward and the net need not keep
// every blob, blobs whose values are no longer read hand their storage to blobs written later
// (offsets in one arena by liveness over the layer order), so a deep net needs about its two or three largest
// activations at once instead of all of them. Blobs that share storage already (in-place layers,
// Split, Flatten, Reshape) move together as one group. Inputs, outputs, blobs the caller asked to
// keep, and the tops of layers without bottoms (data layers) keep their own storage.
// A Concat's bottoms go inside its top where they can (see nestConcatBottoms): the layers that
// compute them then write the concatenated blob directly, and the Concat has nothing to copy.
import { releaseSharedArena, sharedArena } from '../kernels/gemm.js';
import type { Blob } from './blob.js';
import type { Net } from './net.js';

interface Group {
  blobs: Blob[];
  /** Floats the group needs (its largest member). */
  size: number;
  /**
   * First layer writing any member, last layer reading any member; for a group holding others
   * (parent below), theirs too, as its storage holds theirs.
   */
  def: number;
  last: number;
  /** Last layer writing any member. */
  lastWrite: number;
  /** The group whose storage holds this one, `offset` floats in (a Concat's top), or null. */
  parent: Group | null;
  offset: number;
}

export interface MemoryPlan {
  /** Bytes of the one arena the planned blobs share. */
  arenaBytes: number;
  /** Whether the arena lies in the kernels' shared memory (see sharedArena). */
  shared: boolean;
  /** Bytes those blobs held each on their own before planning. */
  ownBytes: number;
  groups: number;
  /** Concat bottoms placed inside their top, which their Concat does not copy. */
  concatInPlace: number;
}

/** Blobs that keep their own storage (see the file comment). */
function pinnedBlobs(net: Net, keep: ReadonlySet<Blob>): Set<Blob> {
  const pinned = new Set<Blob>(keep);
  for (const n of net.inputs) pinned.add(net.blob(n));
  for (const n of net.outputs) pinned.add(net.blob(n));
  net.layers.forEach((_, i) => {
    if (net.bottomVecs[i].length === 0) for (const t of net.topVecs[i]) pinned.add(t);
  });
  return pinned;
}

/**
 * Undoes a plan before the net reshapes and plans again (new input shapes): planMemory finds the
 * groups by the buffers blobs view, and after a plan every planned blob views the arena (with the
 * kernels' shared memory, so does every other net's), so they would all look like one group.
 */
export function releaseMemory(net: Net, keep: ReadonlySet<Blob>): void {
  const pinned = pinnedBlobs(net, keep);
  const owners = new Set<object>();
  for (const b of net.blobs.values()) {
    if (pinned.has(b)) continue;
    if (b.storeOwner) owners.add(b.storeOwner);
    b.releaseDataStore();
  }
  // The old arena goes back at once rather than when the collector finds its owner: a net that
  // plans again for every new input shape would otherwise hold one region per shape until then.
  for (const o of owners) releaseSharedArena(o);
}

/**
 * Re-points the storage of `net`'s intermediate blobs into one shared arena (see the file comment);
 * call after a reshape, then reshape again so layers see the new views. `keep` names blobs whose
 * values must survive the forward pass.
 */
export function planMemory(net: Net, keep: ReadonlySet<Blob>): MemoryPlan {
  const { layers, bottomVecs, topVecs } = net;
  const pinned = pinnedBlobs(net, keep);

  // Storage groups: blobs whose data are views of one buffer.
  const byBuffer = new Map<ArrayBufferLike, Group>();
  const groupOf = new Map<Blob, Group>();
  for (const blob of net.blobs.values()) {
    if (blob.count === 0) continue;
    const buf = blob.data.buffer;
    let g = byBuffer.get(buf);
    if (!g) {
      g = { blobs: [], size: 0, def: Infinity, last: -1, lastWrite: -1, parent: null, offset: 0 };
      byBuffer.set(buf, g);
    }
    g.blobs.push(blob);
    g.size = Math.max(g.size, blob.count);
    groupOf.set(blob, g);
  }
  // A layer whose forward hands its top the bottom's data (Flatten: see sharesDataInForward)
  // has not done so yet: its top joins the bottom's group.
  const merged = new Set<Group>();
  const join = (into: Group, from: Group): void => {
    for (const b of from.blobs) groupOf.set(b, into);
    into.blobs.push(...from.blobs);
    into.size = Math.max(into.size, from.size);
    merged.add(from);
  };
  layers.forEach((layer, i) => {
    if (!layer.sharesDataInForward()) return;
    const bottom = groupOf.get(bottomVecs[i][0]);
    const top = groupOf.get(topVecs[i][0]);
    if (bottom && top && bottom !== top) join(bottom, top);
  });
  // A residual Eltwise folded into a conv (fusion.ts) leaves its bottom from the chain unwritten:
  // that bottom and the Eltwise's top share one store, so the fold costs no memory. (Run layer by
  // layer -- a forward that stops inside the chain -- the Eltwise then reads a bottom in its top's
  // storage, which it stages first: see eltwise.ts.)
  for (const chain of net.fusedChains.values()) {
    if (chain.eltwise < 0) continue;
    const top = groupOf.get(topVecs[chain.eltwise][0]);
    const skipped = groupOf.get(bottomVecs[chain.eltwise].find((b) => b !== chain.shortcut)!);
    if (!top || !skipped || top === skipped || merged.has(top) || merged.has(skipped)) continue;
    join(top, skipped);
  }
  layers.forEach((_, i) => {
    for (const t of topVecs[i]) {
      const g = groupOf.get(t);
      if (g) {
        g.def = Math.min(g.def, i);
        g.last = Math.max(g.last, i);
        g.lastWrite = i;
      }
    }
    for (const b of bottomVecs[i]) {
      const g = groupOf.get(b);
      if (g) g.last = Math.max(g.last, i);
    }
  });
  // A fused chain (fusion.ts) writes its last blob while its conv runs, reading the conv's bottom
  // and any shortcut: that blob is live from the conv on, so it shares storage with neither.
  for (const chain of net.fusedChains.values()) {
    const g = groupOf.get(chain.out);
    if (g) g.def = Math.min(g.def, chain.conv);
  }
  const groups = [...byBuffer.values()].filter((g) => !merged.has(g) && g.def !== Infinity && !g.blobs.some((b) => pinned.has(b)));
  const concatInPlace = nestConcatBottoms(net, groupOf, new Set(groups));
  const roots = groups.filter((g) => g.parent === null);

  // One arena; largest groups first, each at the lowest offset that no group alive at the same
  // time occupies (greedy by size, as TFLite's arena planner), 4-float aligned for SIMD loads.
  roots.sort((a, b) => b.size - a.size || a.def - b.def);
  const placed: { g: Group; at: number }[] = [];
  let arenaSize = 0;
  const offsets = new Map<Group, number>();
  for (const g of roots) {
    const busy = placed
      .filter((p) => !(g.last < p.g.def || g.def > p.g.last))
      .map((p) => [p.at, p.at + p.g.size] as const)
      .sort((x, y) => x[0] - y[0]);
    let at = 0;
    for (const [lo, hi] of busy) {
      if (at + g.size <= lo) break;
      at = Math.max(at, Math.ceil(hi / 4) * 4);
    }
    placed.push({ g, at });
    offsets.set(g, at);
    arenaSize = Math.max(arenaSize, at + g.size);
  }
  // In the kernels' shared memory when there is one: the kernels then read and write these blobs
  // in place (see sharedArena).
  const shared = sharedArena(arenaSize);
  const arena = shared?.data ?? new Float32Array(arenaSize);
  let ownBytes = 0;
  for (const g of groups) {
    // (A merged group held a buffer per original group.)
    for (const buf of new Set(g.blobs.map((b) => b.data.buffer))) ownBytes += buf.byteLength;
    let at = 0;
    for (let p: Group | null = g; p; p = p.parent) at += p.parent ? p.offset : offsets.get(p)!;
    const store = arena.subarray(at, at + g.size);
    for (const b of g.blobs) b.useDataStore(store, shared?.owner ?? null);
  }
  return { arenaBytes: arena.byteLength, shared: shared !== null, ownBytes, groups: groups.length, concatInPlace };
}

/**
 * Places Concat bottoms inside their top's group (parent and offset) where that is safe; returns
 * how many. `planned` are the groups the arena will hold (the others keep their own storage).
 *
 * A bottom's storage then is its slice of the top: its writers fill the slice before the Concat
 * runs, and the top holds the bottom's values from then on. With a batch (or anything else before
 * the concat axis) the slices are strided, so only Concats with one index there qualify. A bottom
 * group qualifies when
 * - it is planned and sits in no Concat's top already: it has one place (a blob concatenated twice,
 *   or by two Concats, goes in at its first slice and is copied to the others),
 * - no member is larger than the slice (else it would spill into the next one),
 * - nothing writes it after the Concat (the write would change the top), and, if it is read after
 *   the Concat, nothing writes the top after the Concat either (an in-place layer on the top would
 *   change the bottom under its later readers).
 * The top's group then lives from the earliest such bottom's first write on. A top that is itself a
 * bottom of a later Concat may go inside that one's top in turn, its own bottoms with it. Slices
 * start at any float, not only at the arena's 4-float alignment: the kernels take such views.
 */
function nestConcatBottoms(net: Net, groupOf: ReadonlyMap<Blob, Group>, planned: ReadonlySet<Group>): number {
  let count = 0;
  net.layers.forEach((layer, i) => {
    const bottoms = net.bottomVecs[i];
    if (bottoms.length < 2 || !layer.bottomsAreSlicesOfTop()) return;
    const top = groupOf.get(net.topVecs[i][0]);
    // (A top that something writes before its Concat, or that already has a place, is left be.)
    if (!top || !planned.has(top) || top.def !== i || top.parent !== null) return;
    const topWrittenLater = top.lastWrite > i;
    let offset = 0;
    for (const b of bottoms) {
      const g = groupOf.get(b);
      if (g && g !== top && planned.has(g) && g.parent === null && g.size === b.count &&
        g.lastWrite < i && !(g.last > i && topWrittenLater)) {
        g.parent = top;
        g.offset = offset;
        top.def = Math.min(top.def, g.def);
        top.last = Math.max(top.last, g.last);
        count++;
      }
      offset += b.count;
    }
  });
  return count;
}
