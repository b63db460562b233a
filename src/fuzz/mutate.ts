// Mutations of seed files: byte-level ones for every format, plus a few that know the shape of
// the formats (protobuf varints and lengths, prototxt numbers and braces, .npy header fields),
// which reach the interesting checks far more often than blind bit flips.
import type { FuzzRng } from './rng.js';

/** Whether a seed is text (prototxt, solver): text-aware mutations apply. */
export type SeedKind = 'text' | 'binary';

/** Mutated inputs never grow beyond this many times their seed (plus a little). */
const GROWTH = 2;

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x22, 0x2a, 0x3a, 0x42];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 1 << 24, 1 << 30];
const INTERESTING_NUMBERS = [
  '0', '-1', '1', '-0', '2147483647', '2147483648', '-2147483649', '4294967296', '1099511627776',
  '9223372036854775807', '18446744073709551616', '1e39', '-1e39', '3.4e38', '1e-50', 'nan', 'inf', '-inf',
  '0x7fffffff', '0xffffffffffffffff', '077', '1.5', '65536', '100000',
];
const TEXT_TOKENS = ['{', '}', ':', '"', "'", '\\', '#', '\n', '<', '>', '[', ']', ',', ';', '\0', 'layer {', 'input_dim: 1000000', 'dim: 1099511627776', 'blobs { shape { dim: 1099511627776 } }'];

function clampGrowth(out: Uint8Array, seedLength: number): Uint8Array {
  const max = seedLength * GROWTH + 4096;
  return out.length > max ? out.subarray(0, max) : out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function varint(v: bigint): Uint8Array {
  const bytes: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    bytes.push(b);
  } while (v > 0n);
  return Uint8Array.from(bytes);
}

const INTERESTING_VARINTS = [0n, 1n, 127n, 128n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 40n, (1n << 64n) - 1n, (1n << 63n)];

/** Protobuf-shaped edits: a length or value varint made huge, a stray tag, a field repeated. */
function protoMutation(rng: FuzzRng, b: Uint8Array): Uint8Array {
  if (b.length === 0) return varint(rng.pick(INTERESTING_VARINTS));
  const at = rng.below(b.length);
  switch (rng.below(4)) {
    case 0: {
      // Replace the varint starting at `at` with an interesting one.
      let end = at;
      while (end < b.length && b[end] & 0x80 && end - at < 10) end++;
      return concat(b.subarray(0, at), varint(rng.pick(INTERESTING_VARINTS)), b.subarray(Math.min(b.length, end + 1)));
    }
    case 1: {
      // A tag with a random field number and wire type, then a varint.
      const tag = (BigInt(1 + rng.below(200)) << 3n) | BigInt(rng.below(8));
      return concat(b.subarray(0, at), varint(tag), varint(rng.pick(INTERESTING_VARINTS)), b.subarray(at));
    }
    case 2: {
      // Repeat a chunk (a field repeated, a nested message doubled).
      const len = 1 + rng.below(Math.min(64, b.length - at));
      return concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
    }
    default: {
      // A length-delimited field whose declared length runs far past the end.
      const tag = (BigInt(1 + rng.below(120)) << 3n) | 2n;
      return concat(b.subarray(0, at), varint(tag), varint(rng.pick(INTERESTING_VARINTS.slice(4))), b.subarray(at));
    }
  }
}

/** Prototxt-shaped edits on the text: numbers swapped for extreme ones, tokens added or removed, lines repeated. */
function textMutation(rng: FuzzRng, b: Uint8Array): Uint8Array {
  const s = Buffer.from(b).toString('latin1');
  let out: string;
  // Weighted toward edits that keep the file parseable, so that nets get built and run.
  const r = rng.below(20);
  switch (r < 8 ? 0 : r < 13 ? 2 : r < 16 ? 1 : r < 18 ? 3 : 4) {
    case 0: {
      const nums = [...s.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      if (!nums.length) return b;
      const m = rng.pick(nums);
      out = s.slice(0, m.index) + rng.pick(INTERESTING_NUMBERS) + s.slice(m.index! + m[0].length);
      break;
    }
    case 1: {
      const at = rng.below(s.length + 1);
      out = s.slice(0, at) + rng.pick(TEXT_TOKENS) + s.slice(at);
      break;
    }
    case 2: {
      const lines = s.split('\n');
      const i = rng.below(lines.length);
      if (rng.chance(0.5)) lines.splice(i, 1);
      else lines.splice(i, 0, lines[rng.below(lines.length)]);
      out = lines.join('\n');
      break;
    }
    case 3: {
      // Drop one structural character.
      const idx = [...s.matchAll(/[{}:"]/g)];
      if (!idx.length) return b;
      const m = rng.pick(idx);
      out = s.slice(0, m.index) + s.slice(m.index! + 1);
      break;
    }
    default: {
      // Swap an identifier for another one from the file (field names in odd places).
      const ids = [...s.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)];
      if (ids.length < 2) return b;
      const m = rng.pick(ids);
      out = s.slice(0, m.index) + rng.pick(ids)[0] + s.slice(m.index! + m[0].length);
    }
  }
  return Buffer.from(out, 'latin1');
}

/** .npy header edits: shape, dtype and order fields replaced with hostile values. */
function npyMutation(rng: FuzzRng, b: Uint8Array): Uint8Array {
  const end = Math.min(b.length, 256);
  const head = Buffer.from(b.subarray(0, end)).toString('latin1');
  const edits: [RegExp, string[]][] = [
    [/\(\d*[^)]*\)/, ['()', '(0,)', '(1099511627776,)', '(-1, 3)', '(4294967296, 4294967296)', '(3,', '(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33)']],
    [/'[<>|=]?[a-z]\d*'/, ["'<f4'", "'>f8'", "'<c16'", "'|O'", "'<U8'", "'<f2'", "'<i8'", "''"]],
    [/False|True/, ['True', 'None', '1', 'Fals']],
  ];
  const [re, subs] = rng.pick(edits);
  const m = head.match(re);
  if (!m) return b;
  const replaced = head.slice(0, m.index) + rng.pick(subs) + head.slice(m.index! + m[0].length);
  return concat(Buffer.from(replaced, 'latin1'), b.subarray(end));
}

export interface MutateOptions {
  kind: SeedKind;
  /** Another seed of the same reader, for splicing. */
  other?: Uint8Array;
  npy?: boolean;
  protobuf?: boolean;
}

/** One to four stacked mutations of `seed` (which is not modified). */
export function mutate(rng: FuzzRng, seed: Uint8Array, opts: MutateOptions): Uint8Array {
  let b: Uint8Array = seed.slice();
  // Half the inputs carry one mutation only: stacked ones rarely get past the first check.
  const rounds = rng.chance(0.5) ? 1 : 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const op = rng.below(12);
    if (opts.kind === 'text' && rng.chance(0.75)) b = textMutation(rng, b);
    else if (op <= 1 && opts.kind === 'text') b = textMutation(rng, b);
    else if (op <= 1 && opts.npy) b = npyMutation(rng, b);
    else if (op <= 2 && opts.protobuf) b = protoMutation(rng, b);
    else if (b.length === 0) b = Uint8Array.of(rng.pick(INTERESTING_BYTES));
    else {
      switch (op) {
        case 3: // bit flips
        case 4:
          for (let k = 1 + rng.below(8); k > 0; k--) b[rng.below(b.length)] ^= 1 << rng.below(8);
          break;
        case 5:
          b[rng.below(b.length)] = rng.pick(INTERESTING_BYTES);
          break;
        case 6: {
          if (b.length < 4) break;
          const at = rng.below(b.length - 3);
          new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, rng.pick(INTERESTING_U32), rng.chance(0.5));
          break;
        }
        case 7: {
          const at = rng.below(b.length);
          const len = 1 + rng.below(Math.min(b.length - at, rng.chance(0.8) ? 16 : 4096));
          b = concat(b.subarray(0, at), b.subarray(at + len));
          break;
        }
        case 8: {
          const at = rng.below(b.length);
          const len = 1 + rng.below(Math.min(b.length - at, 256));
          const to = rng.below(b.length + 1);
          b = concat(b.subarray(0, to), b.slice(at, at + len), b.subarray(to));
          break;
        }
        case 9:
          b = b.subarray(0, rng.below(b.length)).slice();
          break;
        case 10:
          if (opts.other && opts.other.length) {
            const cut = rng.below(b.length);
            const from = rng.below(opts.other.length);
            b = concat(b.subarray(0, cut), opts.other.subarray(from));
          } else {
            b[rng.below(b.length)] = rng.below(256);
          }
          break;
        default: {
          // Random bytes over a short run.
          const at = rng.below(b.length);
          for (let k = 0, n = 1 + rng.below(32); k < n && at + k < b.length; k++) b[at + k] = rng.below(256);
        }
      }
    }
    b = clampGrowth(b, seed.length);
  }
  return b;
}
