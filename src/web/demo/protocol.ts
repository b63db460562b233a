// Messages between the demo page (page.ts) and its inference worker (worker.ts).

/** A file as the page read it: its name (for messages) and contents. */
export interface FileData {
  name: string;
  data: ArrayBuffer;
}

export interface Preprocess {
  /** classify.py's pipeline ('py', default) or classification.cpp's ('cpp'). */
  pipeline?: 'py' | 'cpp';
  rawScale?: number;
  inputScale?: number;
  channelSwap?: number[] | null;
  meanValues?: number[];
  oversample?: boolean;
}

export type Request =
  | {
      id: number;
      op: 'load';
      model: FileData;
      weights?: FileData;
      mean?: FileData;
      labels?: FileData;
      preprocess?: Preprocess;
      threads?: number;
      /** Keep every blob's values after a forward (NetOptions.keepBlobs), to read intermediate blobs. */
      keepBlobs?: boolean;
    }
  | { id: number; op: 'classify'; image: FileData; top?: number }
  | { id: number; op: 'forward'; inputs: Record<string, { shape: number[]; data: Float32Array }>; outputs?: string[] }
  | { id: number; op: 'info' };

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

export interface LoadedNet {
  name: string;
  inputs: { name: string; shape: number[] }[];
  outputs: string[];
  layers: number;
  svg: string;
  loadMs: number;
}

export interface Info {
  threads: number;
  /** GEMM workers (Web Workers) up, and the panels of split products they computed so far. */
  workers: number;
  workerPanels: number;
  /** Why there is one thread, if so. */
  reason: string;
  /** The kernels in use (kernelInfo()). */
  kernels: { gemm: string; fma: boolean; simd: boolean; winograd: string; depthwise: boolean };
  crossOriginIsolated: boolean;
  sharedMemory: boolean;
}

export type Reply =
  | { id: number; ok: true; net: LoadedNet }
  | { id: number; ok: true; top: Prediction[]; forwardMs: number }
  | { id: number; ok: true; outputs: Record<string, { shape: number[]; data: Float32Array }>; forwardMs: number }
  | { id: number; ok: true; info: Info }
  | { id: number; ok: false; error: string; kind: string };
