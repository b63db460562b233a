// node:url in the browser bundle: a module URL's path names the bundle's folder (see assets.ts).
export function fileURLToPath(u: string | URL): string {
  return decodeURIComponent(new URL(String(u)).pathname);
}

export function pathToFileURL(p: string): URL {
  return new URL(`file://${encodeURI(p)}`);
}

export default { fileURLToPath, pathToFileURL };
