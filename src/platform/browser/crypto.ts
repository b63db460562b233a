// node:crypto in the browser bundle: only the random bytes the core asks for.
export function randomBytes(n: number): Uint8Array & { toString(enc?: string): string } {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return Object.assign(b, { toString: () => hex });
}

export default { randomBytes };
