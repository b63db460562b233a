// A read-only LMDB reader of our own, in TypeScript, for the Data layer (Caffe's db_lmdb.cpp opens
// the environment MDB_RDONLY | MDB_NOTLS and walks the main database with a cursor).
//
// Why not a native binding: the `lmdb` npm package ships LMDB 0.9.90 built for data format 2
// (a 24-byte page header), and it crashes on the format-1 files that Caffe, py-lmdb and the
// Debian LMDB tools write. This reader understands both on-disk formats:
//
//   format 1 (LMDB 0.9.x; what Caffe writes): page header 16 bytes, node offsets from the page start
//   format 2 (LMDB 0.9.90 / lmdb-js):          page header 24 bytes, node offsets after the header
//
// It reads the data file page by page (positioned reads, no mmap), takes the snapshot of the meta
// page with the larger transaction id, and iterates the main database's B+tree in key order
// (LMDB's default byte-wise comparison), following overflow pages for large values. It does not
// take LMDB's reader lock: the database must not be written while it is read (Caffe's training
// databases are static). Named sub-databases and DUPSORT data are rejected.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CaffeError } from '../util/errors.js';

const MAGIC = 0xbeefc0de;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const P_INVALID = 0xffffffffffffffffn;
const MDB_DUPSORT = 0x04;

/** Offset of the MDB_meta fields inside a meta page, and the DB records inside MDB_meta. */
const META_DBS = 24; // magic(4) version(4) address(8) mapsize(8)
const DB_SIZE = 48; // pad(4) flags(2) depth(2) branch(8) leaf(8) overflow(8) entries(8) root(8)
const META_TXNID = META_DBS + 2 * DB_SIZE + 8; // after mm_last_pg

export class LmdbError extends CaffeError {}

interface Page {
  pgno: number;
  flags: number;
  bytes: Uint8Array;
  view: DataView;
}

export interface LmdbInfo {
  /** LMDB data format version (1: LMDB 0.9.x / Caffe, 2: LMDB 0.9.90 / lmdb-js). */
  version: number;
  pageSize: number;
  entries: number;
  depth: number;
  txnid: number;
}

/** An LMDB environment opened read-only: `path` is the folder holding data.mdb, or the data file. */
export class LmdbReader {
  readonly path: string;
  readonly file: string;
  readonly info: LmdbInfo;
  private fd: number;
  private fileSize = 0;
  private readonly headerSize: number;
  private readonly nodeBase: number;
  private readonly root: number;
  private readonly cache = new Map<number, Page>();
  private static readonly CACHE_PAGES = 64;

  constructor(path: string) {
    this.path = path;
    let file = path;
    try {
      if (statSync(path).isDirectory()) file = join(path, 'data.mdb');
    } catch (e) {
      throw new LmdbError(`${path}: cannot open LMDB database: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (e as Error).message}`);
    }
    this.file = file;
    try {
      this.fd = openSync(file, 'r');
    } catch (e) {
      throw new LmdbError(`${path}: cannot open LMDB data file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    try {
      const size = fstatSync(this.fd).size;
      this.fileSize = size;
      // The first meta page tells the page size and the format; read generously.
      const head = this.readAt(0, Math.min(size, 256));
      const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
      let version = 0;
      let headerSize = 0;
      for (const hs of [16, 24]) {
        if (head.byteLength >= hs + META_TXNID + 8 && hv.getUint32(hs, true) === MAGIC && (hv.getUint16(hs - 6, true) & P_META)) {
          headerSize = hs;
          version = hv.getUint32(hs + 4, true) & 0xffff;
          break;
        }
      }
      if (!headerSize) throw new LmdbError(`${file}: not an LMDB data file (no meta page with LMDB's magic number)`);
      if ((version === 1 && headerSize !== 16) || (version === 2 && headerSize !== 24) || (version !== 1 && version !== 2)) {
        throw new LmdbError(`${file}: unsupported LMDB data format version ${version} (page header ${headerSize} bytes)`);
      }
      const pageSize = hv.getUint32(headerSize + META_DBS, true);
      if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
        throw new LmdbError(`${file}: implausible LMDB page size ${pageSize}`);
      }
      this.headerSize = headerSize;
      this.nodeBase = version === 1 ? 0 : headerSize;
      // Two meta pages; the valid one with the larger txnid is the latest committed snapshot.
      let best: { txnid: bigint; meta: DataView } | null = null;
      for (let m = 0; m < 2; m++) {
        if ((m + 1) * pageSize > size) continue;
        const bytes = this.readAt(m * pageSize, pageSize);
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (v.getUint32(headerSize, true) !== MAGIC) continue;
        if ((v.getUint32(headerSize + 4, true) & 0xffff) !== version) continue;
        const txnid = v.getBigUint64(headerSize + META_TXNID, true);
        if (!best || txnid > best.txnid) best = { txnid, meta: new DataView(bytes.buffer, bytes.byteOffset + headerSize) };
      }
      if (!best) throw new LmdbError(`${file}: no valid LMDB meta page`);
      const main = META_DBS + DB_SIZE;
      const flags = best.meta.getUint16(main + 4, true);
      if (flags & MDB_DUPSORT) throw new LmdbError(`${file}: the main database uses DUPSORT, which Caffe's databases never do`);
      const depth = best.meta.getUint16(main + 6, true);
      const entries = best.meta.getBigUint64(main + 32, true);
      const root = best.meta.getBigUint64(main + 40, true);
      this.root = root === P_INVALID ? -1 : Number(root);
      this.info = { version, pageSize, entries: Number(entries), depth, txnid: Number(best.txnid) };
    } catch (e) {
      closeSync(this.fd);
      this.fd = -1;
      throw e;
    }
  }

  get entries(): number {
    return this.info.entries;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.cache.clear();
  }

  private readAt(offset: number, length: number): Uint8Array {
    // Page numbers and value sizes come from the file: check them against its size before allocating.
    if (!(offset >= 0 && offset + length <= this.fileSize)) {
      throw new LmdbError(`${this.file}: corrupt LMDB file: ${length} bytes at offset ${offset} lie past its end (${this.fileSize} bytes)`);
    }
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new LmdbError(`${this.file}: truncated LMDB file (reading ${length} bytes at ${offset})`);
      done += n;
    }
    return buf;
  }

  private page(pgno: number): Page {
    const hit = this.cache.get(pgno);
    if (hit) {
      // keep recently used pages at the end of the Map (LRU order)
      this.cache.delete(pgno);
      this.cache.set(pgno, hit);
      return hit;
    }
    if (this.fd < 0) throw new LmdbError(`${this.path}: the LMDB reader is closed`);
    const bytes = this.readAt(pgno * this.info.pageSize, this.info.pageSize);
    const view = new DataView(bytes.buffer);
    const flags = view.getUint16(this.headerSize - 6, true);
    const page: Page = { pgno, flags, bytes, view };
    this.cache.set(pgno, page);
    if (this.cache.size > LmdbReader.CACHE_PAGES) this.cache.delete(this.cache.keys().next().value!);
    return page;
  }

  /** Number of nodes on a branch or leaf page. */
  numKeys(p: Page): number {
    const lower = p.view.getUint16(this.headerSize - 4, true);
    return (lower - (this.headerSize - this.nodeBase)) >> 1;
  }

  private nodeOffset(p: Page, i: number): number {
    const off = p.view.getUint16(this.headerSize + 2 * i, true) + this.nodeBase;
    if (off + 8 > p.bytes.byteLength) throw new LmdbError(`${this.file}: corrupt LMDB page ${p.pgno} (node ${i} at ${off})`);
    return off;
  }

  childPage(p: Page, i: number): number {
    const off = this.nodeOffset(p, i);
    const lo = p.view.getUint16(off, true);
    const hi = p.view.getUint16(off + 2, true);
    const top = p.view.getUint16(off + 4, true);
    return lo + hi * 0x10000 + top * 0x100000000;
  }

  loadPage(pgno: number, want: number): Page {
    const p = this.page(pgno);
    if (!(p.flags & want)) {
      throw new LmdbError(`${this.file}: corrupt LMDB tree: page ${pgno} has flags 0x${p.flags.toString(16)}, expected ${want === P_BRANCH ? 'a branch' : 'a leaf'} page`);
    }
    if (p.flags & P_LEAF2) throw new LmdbError(`${this.file}: LEAF2 (DUPFIXED) pages are not supported`);
    return p;
  }

  /** Key and value of leaf node i (values on overflow pages are read in full). */
  leafEntry(p: Page, i: number): { key: Uint8Array; value: Uint8Array } {
    const off = this.nodeOffset(p, i);
    const v = p.view;
    const size = v.getUint16(off, true) + v.getUint16(off + 2, true) * 0x10000;
    const flags = v.getUint16(off + 4, true);
    const ksize = v.getUint16(off + 6, true);
    const keyStart = off + 8;
    if (keyStart + ksize > p.bytes.byteLength) throw new LmdbError(`${this.file}: corrupt LMDB leaf page ${p.pgno}`);
    const key = p.bytes.slice(keyStart, keyStart + ksize);
    if (flags & (F_SUBDATA | F_DUPDATA)) {
      throw new LmdbError(`${this.file}: key '${Buffer.from(key).toString('latin1')}' holds a sub-database or duplicate data, which a Caffe database never does`);
    }
    const dataStart = keyStart + ksize;
    if (flags & F_BIGDATA) {
      const lo = v.getUint32(dataStart, true);
      const hi = v.getUint32(dataStart + 4, true);
      const ovpg = lo + hi * 0x100000000;
      const first = this.readAt(ovpg * this.info.pageSize, this.headerSize);
      const fv = new DataView(first.buffer);
      if (!(fv.getUint16(this.headerSize - 6, true) & P_OVERFLOW)) {
        throw new LmdbError(`${this.file}: corrupt LMDB database: value of key '${Buffer.from(key).toString('latin1')}' does not point at an overflow page`);
      }
      return { key, value: this.readAt(ovpg * this.info.pageSize + this.headerSize, size) };
    }
    if (dataStart + size > p.bytes.byteLength) throw new LmdbError(`${this.file}: corrupt LMDB leaf page ${p.pgno}`);
    return { key, value: p.bytes.slice(dataStart, dataStart + size) };
  }

  get rootPage(): number {
    return this.root;
  }

  /** A cursor over the main database, positioned at the first key. */
  cursor(): LmdbCursor {
    return new LmdbCursor(this);
  }
}

/**
 * A cursor in key order (Caffe's db::Cursor: SeekToFirst, Next, valid, key, value). After the last
 * entry `valid` is false until `seekToFirst`.
 */
export class LmdbCursor {
  /** Path from the root: [page number, index] per level; the last level is a leaf. */
  private stack: { pgno: number; index: number }[] = [];
  private current: { key: Uint8Array; value: Uint8Array } | null = null;

  constructor(private readonly db: LmdbReader) {
    this.seekToFirst();
  }

  get valid(): boolean {
    return this.current !== null;
  }

  get key(): Uint8Array {
    if (!this.current) throw new LmdbError(`${this.db.path}: cursor is not on an entry`);
    return this.current.key;
  }

  get value(): Uint8Array {
    if (!this.current) throw new LmdbError(`${this.db.path}: cursor is not on an entry`);
    return this.current.value;
  }

  seekToFirst(): void {
    this.stack = [];
    this.current = null;
    if (this.db.rootPage < 0) return;
    this.descend(this.db.rootPage);
  }

  /** Goes down the leftmost path from pgno to a leaf and loads its first entry. */
  private descend(pgno: number): void {
    for (let depth = 0; ; depth++) {
      if (depth > 64) throw new LmdbError(`${this.db.path}: LMDB tree deeper than 64 levels (corrupt?)`);
      const p = this.db.loadPage(pgno, P_BRANCH | P_LEAF);
      this.stack.push({ pgno, index: 0 });
      if (p.flags & P_LEAF) {
        this.load();
        return;
      }
      if (this.db.numKeys(p) === 0) throw new LmdbError(`${this.db.path}: empty LMDB branch page ${pgno}`);
      pgno = this.db.childPage(p, 0);
    }
  }

  private load(): void {
    const top = this.stack[this.stack.length - 1];
    const p = this.db.loadPage(top.pgno, P_LEAF);
    if (top.index >= this.db.numKeys(p)) {
      this.current = null;
      return;
    }
    this.current = this.db.leafEntry(p, top.index);
  }

  next(): void {
    if (!this.current) return;
    // Next entry on this leaf, else climb to the first ancestor with a next child.
    let level = this.stack.length - 1;
    const leaf = this.stack[level];
    if (leaf.index + 1 < this.db.numKeys(this.db.loadPage(leaf.pgno, P_LEAF))) {
      leaf.index++;
      this.load();
      return;
    }
    while (level > 0) {
      this.stack.pop();
      level--;
      const b = this.stack[level];
      const bp = this.db.loadPage(b.pgno, P_BRANCH);
      if (b.index + 1 < this.db.numKeys(bp)) {
        b.index++;
        this.descend(this.db.childPage(bp, b.index));
        return;
      }
    }
    this.current = null;
  }
}

/** Calls fn for every entry in key order (convenience for tools and tests). */
export function forEachEntry(path: string, fn: (key: Uint8Array, value: Uint8Array) => void): void {
  const db = new LmdbReader(path);
  try {
    const c = db.cursor();
    while (c.valid) {
      fn(c.key, c.value);
      c.next();
    }
  } finally {
    db.close();
  }
}
