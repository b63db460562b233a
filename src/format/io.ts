// Reading nets, weights, solvers and blobs whatever their format, and writing them atomically.
//
// Mirrors Caffe's src/caffe/util/io.cpp + upgrade_proto.cpp entry points:
//   readNetParameterText  ~ ReadNetParamsFromTextFileOrDie   (text, upgraded)
//   readNetWeights        ~ ReadNetParamsFromBinaryFileOrDie (binary .caffemodel, upgraded)
//   readSolverParameter   ~ ReadSolverParamsFromTextFileOrDie
//   readBlobProto         ~ ReadProtoFromBinaryFileOrDie(BlobProto)
// plus readNetParameter (text or binary, detected from the content) and upgradeFile, which does
// what tools/upgrade_net_proto_text, upgrade_net_proto_binary or upgrade_solver_proto_text do,
// chosen from the content.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { CaffeError, ParseError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { has, type Message } from '../proto/schema.js';
import { parseText, printText } from './text.js';
import { decodeMessage, encodeMessage } from './binary.js';
import {
  netNeedsUpgrade,
  solverNeedsTypeUpgrade,
  upgradeNetAsNeeded,
  upgradeSolverAsNeeded,
} from './upgrade.js';

/** A file that cannot be read the way it was asked for (format not supported, unreadable ...). */
export class FileFormatError extends CaffeError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileFormatError(path, code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}`);
  }
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when the bytes start with the HDF5 signature (a .caffemodel.h5 / .h5 file). */
export function isHdf5(bytes: Uint8Array): boolean {
  if (bytes.length < HDF5_SIGNATURE.length) return false;
  return HDF5_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Whether the file at `path` starts with the HDF5 signature (false when it cannot be read). */
export function isHdf5File(path: string): boolean {
  const head = new Uint8Array(HDF5_SIGNATURE.length);
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    return readSync(fd, head, 0, head.length, 0) === head.length && isHdf5(head);
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether the bytes hold C0 control characters other than whitespace (or DEL): never in a prototxt. */
function hasControlBytes(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if ((c < 0x20 && (c < 0x09 || c > 0x0d)) || c === 0x7f) return true;
  }
  return false;
}

/** The bytes as text when they look like a text file (valid UTF-8, no control characters but whitespace), else null. */
function asText(bytes: Uint8Array): string | null {
  if (hasControlBytes(bytes)) return null;
  try {
    let s = utf8.decode(bytes);
    if (s.charCodeAt(0) === 0xfeff) s = s.slice(1); // a BOM some editors write
    return s;
  } catch {
    return null;
  }
}

/**
 * Whether a file's bytes are a binary protobuf rather than protobuf text. Text is valid UTF-8
 * without control characters (binary protobufs almost always hold tags and lengths below 0x20);
 * when `typeName` is given, text that does not parse as that type but decodes as binary counts as
 * binary too. An empty file counts as text.
 */
export function isBinaryProto(bytes: Uint8Array, typeName?: string): boolean {
  if (bytes.length === 0) return false;
  const text = asText(bytes);
  if (text === null) return true;
  if (!typeName) return false;
  try {
    parseText(text, typeName);
    return false;
  } catch {
    try {
      decodeMessage(bytes, typeName);
      return true;
    } catch {
      return false; // neither: report it as the text it looks like
    }
  }
}

const TEXT_EXTENSIONS = new Set(['.prototxt', '.pbtxt', '.txt']);
const BINARY_EXTENSIONS = new Set(['.caffemodel', '.binaryproto', '.solverstate']);

/**
 * What a file's extension says it is: protobuf text (.prototxt, .pbtxt, .txt), binary protobuf
 * (.caffemodel, .binaryproto, .solverstate), or null when the extension names neither and the
 * content must be sniffed. A named format is never second-guessed: a .prototxt holding a NUL
 * byte is broken text (reported with line and column), not a binary file.
 */
export function formatFromExtension(path: string): 'text' | 'binary' | null {
  const ext = extname(path).toLowerCase();
  if (TEXT_EXTENSIONS.has(ext)) return 'text';
  if (BINARY_EXTENSIONS.has(ext)) return 'binary';
  return null;
}

/** Bytes as text for the text parser: UTF-8 (invalid sequences replaced, as protobuf reads them), without a BOM. */
/** Invalid sequences become U+FFFD, as protobuf's text reader sees them; the BOM is stripped below. */
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function textOf(bytes: Uint8Array): string {
  const text = lenientUtf8.decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses bytes as text or binary (from the extension, else auto-detected) into a message of `typeName`. */
function readMessage(bytes: Uint8Array, typeName: string, path: string): { msg: Message; binary: boolean } {
  if (isHdf5(bytes)) {
    throw new FileFormatError(path, `is an HDF5 file, not a ${typeName} (prototxt or binary protobuf); HDF5 weights load through --weights / Net.copyTrainedLayersFromFile`);
  }
  const named = formatFromExtension(path);
  if (named === 'text') return { msg: parseText(textOf(bytes), typeName, path), binary: false };
  if (named === 'binary') return { msg: decodeMessage(bytes, typeName, path), binary: true };
  const text = asText(bytes);
  if (text === null) {
    try {
      return { msg: decodeMessage(bytes, typeName, path), binary: true };
    } catch (e) {
      // Text with a stray non-UTF-8 byte (a Latin-1 comment, say) is still text to protobuf's parser.
      if (!hasControlBytes(bytes)) {
        try {
          return { msg: parseText(lenientUtf8.decode(bytes), typeName, path), binary: false };
        } catch {
          // not text either
        }
      }
      throw e;
    }
  }
  try {
    return { msg: parseText(text, typeName, path), binary: false };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    try {
      return { msg: decodeMessage(bytes, typeName, path), binary: true };
    } catch {
      throw e; // it looks like text: the text error is the useful one
    }
  }
}

export interface ReadNetOptions {
  /** Apply Caffe's UpgradeNetAsNeeded (default true). */
  upgrade?: boolean;
  /** Receives what the upgrade logged. */
  log?: string[];
}

function maybeUpgrade(net: Message, path: string, opts: ReadNetOptions): Message {
  if (opts.upgrade === false) return net;
  const r = upgradeNetAsNeeded(net, path);
  opts.log?.push(...r.log);
  return r.net;
}

/** A NetParameter from a text (.prototxt) or binary (.caffemodel) file, detected from the content; upgraded unless `upgrade: false`. */
export function readNetParameter(path: string, opts: ReadNetOptions = {}): Message {
  return readNetParameterBytes(readBytes(path), path, opts);
}

/**
 * A NetParameter from a file's contents (text or binary, from `name`'s extension or detected as
 * readNetParameter does); `name` is only used in messages. For runtimes without a file system.
 */
export function readNetParameterBytes(bytes: Uint8Array | string, name = '<net>', opts: ReadNetOptions = {}): Message {
  const msg = typeof bytes === 'string' ? parseText(bytes, 'NetParameter', name) : readMessage(bytes, 'NetParameter', name).msg;
  return maybeUpgrade(msg, name, opts);
}

/** ReadNetParamsFromTextFileOrDie: a text NetParameter, upgraded unless `upgrade: false`. */
export function readNetParameterText(path: string, opts: ReadNetOptions = {}): Message {
  const bytes = readBytes(path);
  if (isHdf5(bytes)) throw new FileFormatError(path, 'is an HDF5 file, not a text NetParameter');
  const net = parseText(textOf(bytes), 'NetParameter', path);
  return maybeUpgrade(net, path, opts);
}

/**
 * ReadNetParamsFromBinaryFileOrDie: trained weights from a binary .caffemodel (V0/V1 layouts
 * included), upgraded unless `upgrade: false`. HDF5 weights (.h5) are refused here: Net.copyTrainedLayersFromFile reads them.
 */
export function readNetWeights(path: string, opts: ReadNetOptions = {}): Message {
  const bytes = readBytes(path);
  if (isHdf5(bytes)) {
    throw new FileFormatError(path, 'is HDF5 weights (a .caffemodel.h5): Net.copyTrainedLayersFromFile reads those; readNetWeights reads binary caffemodels');
  }
  // The bytes were read for this call alone: blob data can stay in them (no second copy).
  return maybeUpgrade(decodeMessage(bytes, 'NetParameter', path, { inPlace: true }), path, opts);
}

export interface ReadSolverOptions {
  /** Apply Caffe's UpgradeSolverAsNeeded (default true). */
  upgrade?: boolean;
  /**
   * Apply Caffe master's UpgradeSnapshotPrefixProperty (default true): an absent snapshot_prefix
   * becomes the solver file's path without extension; a snapshot_prefix naming an existing folder
   * gets the solver file's base name appended.
   */
  snapshotPrefix?: boolean;
  log?: string[];
}

/** UpgradeSnapshotPrefixProperty (Caffe master, done by ReadSolverParamsFromTextFileOrDie). */
export function upgradeSnapshotPrefix(solverPath: string, solver: Message, log: string[] = []): void {
  const ext = extname(solverPath);
  if (!has(solver, 'snapshot_prefix')) {
    // boost::filesystem::path(param_file).replace_extension()
    solver.snapshot_prefix = ext ? solverPath.slice(0, -ext.length) : solverPath;
    log.push(`snapshot_prefix was not specified and is set to ${solver.snapshot_prefix}`);
    return;
  }
  const prefix = solver.snapshot_prefix as string;
  let isDir = false;
  try {
    isDir = prefix !== '' && statSync(prefix).isDirectory();
  } catch {
    isDir = false;
  }
  if (isDir) {
    // path(snapshot_prefix) / path(param_file).stem()
    const stem = basename(solverPath, ext);
    solver.snapshot_prefix = prefix.endsWith('/') ? prefix + stem : `${prefix}/${stem}`;
    log.push(`snapshot_prefix was a directory and is replaced to ${solver.snapshot_prefix}`);
  }
}

/** ReadSolverParamsFromTextFileOrDie: a text SolverParameter, upgraded. */
export function readSolverParameter(path: string, opts: ReadSolverOptions = {}): Message {
  const bytes = readBytes(path);
  const solver = parseText(textOf(bytes), 'SolverParameter', path);
  if (opts.upgrade !== false) {
    const r = upgradeSolverAsNeeded(solver, path);
    opts.log?.push(...r.log);
  }
  if (opts.snapshotPrefix !== false) upgradeSnapshotPrefix(path, solver, opts.log);
  return solver;
}

/** A BlobProto from a binary .binaryproto file (a mean file, for instance). */
export function readBlobProto(path: string): Message {
  return decodeMessage(readBytes(path), 'BlobProto', path);
}

/** Writes a message as protobuf text, atomically (temp file in the same folder + rename). */
export function writeTextAtomic(path: string, msg: Message, typeName: string): void {
  writeFileAtomic(path, Buffer.from(printText(msg, typeName), 'utf8'));
}

/** Writes a message as binary protobuf, atomically (temp file in the same folder + rename). */
export function writeBinaryAtomic(path: string, msg: Message, typeName: string): void {
  writeFileAtomic(path, encodeMessage(msg, typeName));
}

// ---------------------------------------------------------------------------------------------
// upgradeFile: the three upgrade tools, chosen by content

export type UpgradeTool = 'upgrade_net_proto_text' | 'upgrade_net_proto_binary' | 'upgrade_solver_proto_text';

export interface UpgradeFileResult {
  tool: UpgradeTool;
  kind: 'net' | 'solver';
  format: 'text' | 'binary';
  /** False when the file was already in the latest format (written unchanged). */
  upgraded: boolean;
  /** False when Caffe's tool would report errors (it still writes its output, and so do we). */
  success: boolean;
  log: string[];
  /** The message written. */
  message: Message;
  /** The bytes written. */
  bytes: Uint8Array;
}

/** Net-only top-level fields: a text file with any of these is a net, not a solver. */
const NET_MARKERS = ['layer', 'layers', 'input', 'input_shape', 'input_dim', 'name', 'force_backward', 'state'];

/**
 * Decides what a text file is: a NetParameter (it parses as one and has layers or other net
 * fields, or does not parse as a SolverParameter) or a SolverParameter.
 */
export function classifyText(text: string, path: string): { kind: 'net' | 'solver'; msg: Message } {
  let netErr: unknown = null;
  let net: Message | null = null;
  try {
    net = parseText(text, 'NetParameter', path);
  } catch (e) {
    netErr = e;
  }
  if (net && NET_MARKERS.some((f) => has(net!, f))) return { kind: 'net', msg: net };
  try {
    return { kind: 'solver', msg: parseText(text, 'SolverParameter', path) };
  } catch (solverErr) {
    if (net) return { kind: 'net', msg: net };
    // Neither parses: report the error of whichever got further into the file.
    const pos = (e: unknown) => (e instanceof ParseError ? e.line * 1e6 + e.column : -1);
    throw pos(solverErr) > pos(netErr) ? solverErr : netErr;
  }
}

/** The upgrade done in memory (what upgradeFile writes), from the input file's bytes. */
export function upgradeBytes(bytes: Uint8Array, inPath: string): UpgradeFileResult {
  if (isHdf5(bytes)) throw new FileFormatError(inPath, 'is an HDF5 file; only protobuf text and binary files can be upgraded');
  const named = formatFromExtension(inPath);
  const text = named === 'text' ? textOf(bytes) : asText(bytes);
  let binaryNet: Message | null = null;
  let textMsg: { kind: 'net' | 'solver'; msg: Message } | null = null;
  if (named === 'binary') {
    binaryNet = decodeMessage(bytes, 'NetParameter', inPath);
  } else if (named === 'text') {
    textMsg = classifyText(text!, inPath);
  } else if (text === null) {
    try {
      binaryNet = decodeMessage(bytes, 'NetParameter', inPath);
    } catch (e) {
      if (hasControlBytes(bytes)) throw e;
      try {
        textMsg = classifyText(Buffer.from(bytes).toString('utf8'), inPath); // text with a stray non-UTF-8 byte
      } catch {
        throw e;
      }
    }
  } else {
    try {
      textMsg = classifyText(text, inPath);
    } catch (e) {
      try {
        binaryNet = decodeMessage(bytes, 'NetParameter', inPath);
      } catch {
        throw e;
      }
    }
  }
  if (binaryNet) {
    // tools/upgrade_net_proto_binary
    const r = upgradeNetLogged(binaryNet, inPath);
    return { tool: 'upgrade_net_proto_binary', kind: 'net', format: 'binary', ...r, bytes: encodeMessage(r.message, 'NetParameter') };
  }
  const { kind, msg } = textMsg!;
  if (kind === 'net') {
    // tools/upgrade_net_proto_text (its extra UpgradeNetDataTransformation after the upgrade only
    // touches V1 `layers`, which the V1->V2 step has emptied by then)
    const r = upgradeNetLogged(msg, inPath);
    return {
      tool: 'upgrade_net_proto_text', kind: 'net', format: 'text', ...r,
      bytes: Buffer.from(printText(r.message, 'NetParameter'), 'utf8'),
    };
  }
  // tools/upgrade_solver_proto_text
  const r = upgradeLogged(solverNeedsTypeUpgrade(msg), inPath, () => upgradeSolverAsNeeded(msg, inPath));
  return {
    tool: 'upgrade_solver_proto_text', kind: 'solver', format: 'text', ...r, message: msg,
    bytes: Buffer.from(printText(msg, 'SolverParameter'), 'utf8'),
  };
}

/** The course all of Caffe's upgrade tools take: upgrade when needed, with their log lines. */
function upgradeLogged(
  need: boolean, inPath: string, upgrade: () => { success: boolean; log: string[] },
): { upgraded: boolean; success: boolean; log: string[] } {
  const log: string[] = [];
  let success = true;
  if (need) {
    const r = upgrade();
    success = r.success;
    log.push(...r.log);
    if (!success) log.push('Encountered error(s) while upgrading prototxt; see details above.');
  } else {
    log.push(`File already in latest proto format: ${inPath}`);
  }
  return { upgraded: need, success, log };
}

function upgradeNetLogged(net: Message, inPath: string): { upgraded: boolean; success: boolean; log: string[]; message: Message } {
  let message = net;
  const r = upgradeLogged(netNeedsUpgrade(net), inPath, () => {
    const u = upgradeNetAsNeeded(net, inPath);
    message = u.net;
    return u;
  });
  return { ...r, message };
}

/**
 * Upgrades a legacy net (text or binary) or solver (text) file the way Caffe's upgrade tools do,
 * choosing the tool from the content, and writes the result atomically to `outPath` in the input's
 * format. Returns what it did. Throws (writing nothing) where Caffe's tools die.
 */
export function upgradeFile(inPath: string, outPath: string): UpgradeFileResult {
  const r = upgradeBytes(readBytes(inPath), inPath);
  writeFileAtomic(outPath, r.bytes);
  r.log.push(`Wrote upgraded ${r.kind === 'net' ? 'NetParameter' : 'SolverParameter'} ${r.format} proto to ${outPath}`);
  return r;
}
