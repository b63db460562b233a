// The virtual module scripts/build-web.mjs generates (see assets.ts).
declare module 'caffe-ts:assets' {
  export const files: Record<string, { text?: string; base64?: string }>;
}
