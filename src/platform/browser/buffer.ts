// Node's global Buffer for the browser bundle (injected by scripts/build-web.mjs): image.ts hands
// PNG data to pngjs as Buffers, as pngjs expects. The `buffer` package is the standard browser
// implementation of that API.
export { Buffer } from 'buffer';
