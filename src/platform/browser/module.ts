// node:module in the browser bundle: require.resolve finds the embedded package files (assets.ts),
// so code that locates a dependency's .wasm (jpeg.ts) reads the same bytes as under Node.
import { assetName } from './assets.js';
import { PlatformError } from './errors.js';

export function createRequire(_from: string | URL): ((id: string) => never) & { resolve(id: string): string } {
  const req = (id: string): never => {
    throw new PlatformError(`cannot load the Node module '${id}' in a browser`);
  };
  req.resolve = (id: string): string => {
    const path = `/node_modules/${id}`;
    if (assetName(path) === undefined) throw new PlatformError(`cannot find '${id}' in the browser bundle`);
    return path;
  };
  return req;
}

export default { createRequire };
