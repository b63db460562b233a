// The data worker's side (see worker-client.ts). Requests arrive on a MessagePort:
//
//   { op: 'open', id, stream, config, prefetch }  start a batch stream: a loader (loaders.ts) built
//                                                 from `config` produces up to `prefetch` batches
//                                                 ahead; replies { id, ok } once the loader exists
//   { op: 'credit', stream }                      the caller consumed one batch: produce one more
//   { op: 'close', stream }                       stop the stream and release its loader
//   { op: 'h5read', id, path, names, maxBytes }  read datasets of an HDF5 file (as float32)
//   { op: 'h5write', id, path, datasets }         write float32 datasets to a new HDF5 file
//   { op: 'h5readtree', id, path, maxBytes }      read a whole HDF5 file (groups and datasets)
//   { op: 'h5writetree', id, path, tree }         write a whole HDF5 file
//
// Stream items are { stream, seq, ok, value: Batch } in order, or { stream, seq, ok: false, error }
// after which the stream stops. After posting anything the worker bumps signal[0] and wakes the
// caller, which may be sleeping in Atomics.wait.
import type { MessagePort } from 'node:worker_threads';
import { createLoader, type BatchLoader, type LoaderConfig } from './loaders.js';
import { h5Read, h5ReadTree, h5Write, h5WriteTree, type H5Dataset, type H5Tree } from './hdf5-impl.js';

interface Stream {
  loader: BatchLoader;
  credits: number;
  seq: number;
  scheduled: boolean;
  stopped: boolean;
}

export function start(port: MessagePort, signal: Int32Array): void {
  const post = (msg: unknown, transfer: ArrayBuffer[] = []) => {
    port.postMessage(msg, transfer);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  };
  const streams = new Map<number, Stream>();
  /** Posts the outcome of an async request: its value (buffers transferred) or its error message. */
  const reply = <T>(id: number, work: Promise<T>, buffers: (value: T) => ArrayBuffer[] = () => []) => {
    work.then(
      (value) => post({ id, ok: true, value }, buffers(value)),
      (e: unknown) => post({ id, ok: false, error: (e as Error).message ?? String(e) }),
    );
  };

  const pump = (id: number) => {
    const s = streams.get(id);
    if (!s) return;
    s.scheduled = false;
    if (s.stopped || s.credits <= 0) return;
    const seq = s.seq++;
    s.credits--;
    try {
      const batch = s.loader.next();
      const transfer = [batch.data.buffer as ArrayBuffer];
      if (batch.labels) transfer.push(batch.labels.buffer as ArrayBuffer);
      post({ stream: id, seq, ok: true, value: batch }, transfer);
    } catch (e) {
      s.stopped = true;
      post({ stream: id, seq, ok: false, error: (e as Error).message ?? String(e) });
      return;
    }
    schedule(id);
  };
  const schedule = (id: number) => {
    const s = streams.get(id);
    if (!s || s.scheduled || s.stopped || s.credits <= 0) return;
    s.scheduled = true;
    // Yield between batches so credits, closes and HDF5 requests are served.
    setImmediate(pump, id);
  };

  port.on('message', (msg: any) => {
    switch (msg.op) {
      case 'open': {
        let loader: BatchLoader;
        try {
          loader = createLoader(msg.config as LoaderConfig);
        } catch (e) {
          post({ id: msg.id, ok: false, error: (e as Error).message ?? String(e) });
          return;
        }
        streams.set(msg.stream, { loader, credits: msg.prefetch, seq: 0, scheduled: false, stopped: false });
        post({ id: msg.id, ok: true });
        schedule(msg.stream);
        return;
      }
      case 'credit': {
        const s = streams.get(msg.stream);
        if (s) {
          s.credits++;
          schedule(msg.stream);
        }
        return;
      }
      case 'close': {
        const s = streams.get(msg.stream);
        if (s) {
          s.stopped = true;
          streams.delete(msg.stream);
          try {
            s.loader.close();
          } catch {
            // closing is best effort
          }
        }
        return;
      }
      case 'h5read':
        reply(msg.id, h5Read(msg.path, msg.names, msg.maxBytes), (datasets: H5Dataset[]) => datasets.map((d) => d.data.buffer as ArrayBuffer));
        return;
      case 'h5write':
        reply(msg.id, h5Write(msg.path, msg.datasets));
        return;
      case 'h5readtree':
        reply(msg.id, h5ReadTree(msg.path, msg.maxBytes), (tree: H5Tree) => tree.datasets.flatMap((d) => (d.data ? [d.data.buffer as ArrayBuffer] : [])));
        return;
      case 'h5writetree':
        reply(msg.id, h5WriteTree(msg.path, msg.tree));
        return;
      default:
        if (msg.id) post({ id: msg.id, ok: false, error: `unknown request '${msg.op}'` });
    }
  });
  // Tell the caller the worker is up.
  post({ id: 0, ok: true });
}
