// `caffe-ts web`: serves the browser demo (dist/web, built by scripts/build-web.mjs) from a small
// static server that sends the COOP/COEP headers a page needs to be cross-origin isolated, which
// is what gives its worker SharedArrayBuffer, hence the GEMM's Web Worker threads.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../util/paths.js';
import { CaffeError } from '../util/errors.js';
import type { Command } from './commands.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.prototxt': 'text/plain; charset=utf-8',
  '.caffemodel': 'application/octet-stream',
  '.wasm': 'application/wasm',
};

/** The built web folder of this package. */
export function webRoot(): string {
  const dir = join(packageRoot(), 'dist', 'web');
  if (!existsSync(join(dir, 'demo', 'index.html'))) throw new CaffeError(`${dir}: the browser build is missing: run npm run build`);
  return dir;
}

/**
 * Starts the server on `port` (0: any free one); resolves once it listens. `isolate: false` leaves
 * out the COOP/COEP headers (the page then runs its nets on one thread).
 */
export function serveWeb(root: string, port = 8080, host = '127.0.0.1', options: { isolate?: boolean } = {}): Promise<{ server: Server; url: string }> {
  const isolation = options.isolate === false ? {} : {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
  const server = createServer((req, res) => {
    const headers = { ...isolation, 'Cache-Control': 'no-store' };
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/') {
      res.writeHead(302, { ...headers, Location: '/demo/' });
      res.end();
      return;
    }
    // No way out of the root: the path is normalised and must stay under it.
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403, headers).end('forbidden');
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      resolve({ server, url: `http://${host}:${p}/demo/` });
    });
  });
}

export const webCommand: Command = {
  summary: 'serve the browser demo (COOP/COEP headers, so its worker gets threads)',
  usage: '[--port N] [--host H]',
  async run(args) {
    const { values } = parseArgs({ args, options: { port: { type: 'string' }, host: { type: 'string' } } });
    const port = values.port === undefined ? 8080 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CaffeError(`--port must be a port number, got ${values.port}`);
    const { url } = await serveWeb(webRoot(), port, values.host ?? '127.0.0.1');
    process.stdout.write(`caffe-ts web: serving the demo at ${url} (Ctrl-C stops)\n`);
    await new Promise<never>(() => {});
    return 0;
  },
};
