// JPEG decoding through libjpeg-turbo compiled to WebAssembly (the npm package @cwasm/jpeg-turbo
// ships the .wasm; this is our own loader for it). Caffe reads images with OpenCV, which uses
// libjpeg(-turbo): decoding with the same library is the only way to get the same pixels.
//
// The module exports the TurboJPEG API (tjInitDecompress, tjDecompressHeader3, tjDecompress2,
// tjDestroy) and malloc/free. libjpeg reports fatal errors with longjmp, which WebAssembly cannot
// do: our `longjmp` import throws instead, which unwinds the wasm stack without restoring its stack
// pointer or freeing what libjpeg allocated. So after any failure the instance is dropped and a
// fresh one is made on next use: a corrupt file can never affect a later decode.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CaffeError } from '../util/errors.js';
import { grayFromBgr } from './color.js';

/** TurboJPEG pixel formats (turbojpeg.h TJPF_*). */
const TJPF_BGR = 1;
const TJPF_GRAY = 6;
const TJPF_CMYK = 11;
/** TurboJPEG colorspaces (turbojpeg.h TJCS_*). */
const TJCS_CMYK = 3;
const TJCS_YCCK = 4;

export interface JpegImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
  /** libjpeg warned (e.g. premature end of data) but produced every row, as OpenCV would accept. */
  warning: boolean;
}

interface TurboExports {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  tjInitDecompress(): number;
  tjDestroy(handle: number): number;
  tjDecompressHeader3(handle: number, buf: number, size: number, w: number, h: number, subsamp: number, cs: number): number;
  tjDecompress2(handle: number, buf: number, size: number, dst: number, w: number, pitch: number, h: number, pf: number, flags: number): number;
}

/** An instance whose memory grew past this is dropped after use rather than kept. */
const KEEP_MEMORY_BYTES = 64 << 20;

/** Thrown by the `longjmp` import: libjpeg hit a fatal error. */
class LibjpegError extends Error {}

let wasmModule: WebAssembly.Module | undefined;
let live: TurboExports | undefined;

function compile(): WebAssembly.Module {
  if (!wasmModule) {
    const require = createRequire(import.meta.url);
    const path = require.resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm');
    wasmModule = new WebAssembly.Module(readFileSync(path));
  }
  return wasmModule;
}

function instantiate(): TurboExports {
  let memory: WebAssembly.Memory | undefined;
  const view = () => new DataView(memory!.buffer);
  const imports = {
    env: {
      // setjmp returns 0 (direct call); a longjmp back to it is impossible, so it throws.
      setjmp: () => 0,
      longjmp: () => {
        throw new LibjpegError('libjpeg-turbo reported a fatal error');
      },
    },
    // The minimal WASI surface the C runtime links against: no environment, stdio discarded
    // (TurboJPEG keeps its messages in an internal buffer; nothing is printed in practice).
    wasi_snapshot_preview1: {
      proc_exit: (code: number) => {
        throw new LibjpegError(`libjpeg-turbo exited (code ${code})`);
      },
      environ_sizes_get: (countPtr: number, sizePtr: number) => {
        view().setUint32(countPtr, 0, true);
        view().setUint32(sizePtr, 0, true);
        return 0;
      },
      environ_get: () => 0,
      fd_close: () => 0,
      fd_seek: () => 70, // ESPIPE: no seekable files here
      fd_write: (_fd: number, iovs: number, iovsLen: number, nwritten: number) => {
        const dv = view();
        let n = 0;
        for (let i = 0; i < iovsLen; i++) n += dv.getUint32(iovs + 8 * i + 4, true);
        dv.setUint32(nwritten, n, true);
        return 0;
      },
    },
  };
  const instance = new WebAssembly.Instance(compile(), imports);
  const ex = instance.exports as unknown as TurboExports;
  memory = ex.memory;
  return ex;
}

/**
 * Decodes a JPEG as OpenCV's JpegDecoder does (cv::imread / cv::imdecode): color reads ask
 * libjpeg for BGR directly (a gray JPEG is replicated to 3 channels); gray reads ask for
 * JCS_GRAYSCALE, i.e. the Y channel of a YCbCr JPEG (not a weighted sum of decoded RGB).
 * CMYK/YCCK JPEGs are read as CMYK and converted with OpenCV's formulas.
 * Refuses images over `maxPixels` before allocating their pixels.
 */
export function decodeJpeg(bytes: Uint8Array, color: boolean, maxPixels: number, name: string): JpegImage {
  let tj: TurboExports;
  try {
    tj = live ?? (live = instantiate());
  } catch (e) {
    throw new CaffeError(`${name}: cannot load the JPEG decoder (@cwasm/jpeg-turbo): ${(e as Error).message}`);
  }
  let ok = false;
  let handle = 0;
  let src = 0;
  let hdr = 0;
  let dst = 0;
  try {
    handle = tj.tjInitDecompress();
    src = tj.malloc(Math.max(1, bytes.length));
    hdr = tj.malloc(16);
    if (!handle || !src || !hdr) throw new CaffeError(`${name}: cannot decode JPEG: out of decoder memory`);
    new Uint8Array(tj.memory.buffer, src, bytes.length).set(bytes);
    if (tj.tjDecompressHeader3(handle, src, bytes.length, hdr, hdr + 4, hdr + 8, hdr + 12) !== 0) {
      throw new CaffeError(`${name}: cannot decode JPEG: invalid header`);
    }
    const h32 = new Int32Array(tj.memory.buffer, hdr, 4);
    const width = h32[0];
    const height = h32[1];
    const colorspace = h32[3];
    if (!(width > 0 && height > 0)) throw new CaffeError(`${name}: cannot decode JPEG: invalid size ${width}x${height}`);
    if (width * height > maxPixels) throw new CaffeError(`${name}: JPEG is ${width}x${height}, over the ${maxPixels}-pixel limit`);
    const cmyk = colorspace === TJCS_CMYK || colorspace === TJCS_YCCK;
    const pf = cmyk ? TJPF_CMYK : color ? TJPF_BGR : TJPF_GRAY;
    const inCh = cmyk ? 4 : color ? 3 : 1;
    const size = width * height * inCh;
    dst = tj.malloc(size);
    if (!dst) throw new CaffeError(`${name}: cannot decode JPEG: ${width}x${height} does not fit in decoder memory`);
    // flags 0: accurate integer DCT and fancy upsampling, libjpeg's defaults, which OpenCV keeps.
    const rc = tj.tjDecompress2(handle, src, bytes.length, dst, width, 0, height, pf, 0);
    // rc != 0 without a longjmp: only warnings (corrupt or truncated data that libjpeg decoded
    // anyway, filling what is missing). OpenCV accepts such images, so we return them too.
    const raw = new Uint8Array(tj.memory.buffer, dst, size);
    const data = cmyk ? (color ? cmykToBgr(raw) : cmykToGray(raw)) : raw.slice();
    tj.free(dst);
    tj.free(hdr);
    tj.free(src);
    tj.tjDestroy(handle);
    ok = true;
    // wasm memory never shrinks: after a very large image, let the instance (and its memory) go.
    if (tj.memory.buffer.byteLength > KEEP_MEMORY_BYTES) live = undefined;
    return { width, height, channels: color ? 3 : 1, data, warning: rc !== 0 };
  } catch (e) {
    if (e instanceof CaffeError) throw e;
    if (e instanceof LibjpegError) throw new CaffeError(`${name}: cannot decode JPEG: corrupt or unsupported data (${e.message})`);
    // A wasm trap (e.g. out of bounds) or a JS error: report it the same way.
    throw new CaffeError(`${name}: cannot decode JPEG: ${(e as Error).message}`);
  } finally {
    // Any failure may have left the instance mid-call (stack pointer, heap, handle state):
    // drop it rather than free into it; the garbage collector reclaims all of its memory.
    if (!ok && live === tj) live = undefined;
  }
}

// OpenCV's icvCvt_CMYK2BGR_8u_C4C3R / icvCvt_CMYK2Gray_8u_C4C1R (imgcodecs utils.cpp).
function cmykToBgr(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length >> 2;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const k = cmyk[4 * i + 3];
    out[3 * i + 2] = k - (((255 - cmyk[4 * i]) * k) >> 8);
    out[3 * i + 1] = k - (((255 - cmyk[4 * i + 1]) * k) >> 8);
    out[3 * i] = k - (((255 - cmyk[4 * i + 2]) * k) >> 8);
  }
  return out;
}

function cmykToGray(cmyk: Uint8Array): Uint8Array {
  const n = cmyk.length >> 2;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = cmyk[4 * i + 3];
    const c = k - (((255 - cmyk[4 * i]) * k) >> 8);
    const m = k - (((255 - cmyk[4 * i + 1]) * k) >> 8);
    const y = k - (((255 - cmyk[4 * i + 2]) * k) >> 8);
    out[i] = grayFromBgr(y, m, c);
  }
  return out;
}

/** Test hook: whether a decoder instance is alive (it is dropped after a failure), and its memory size. */
export function jpegDecoderState(): { alive: boolean; memoryBytes: number } {
  return { alive: live !== undefined, memoryBytes: live ? live.memory.buffer.byteLength : 0 };
}
