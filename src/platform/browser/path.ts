// node:path in the browser bundle: POSIX paths, which is all the core's names need there.
function normalizeParts(parts: string[], absolute: boolean): string {
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
    } else {
      out.push(part);
    }
  }
  const body = out.join('/');
  return absolute ? '/' + body : body || '.';
}

export const sep = '/';

export function isAbsolute(p: string): boolean {
  return p.startsWith('/');
}

export function normalize(p: string): string {
  return normalizeParts(p.split('/'), isAbsolute(p));
}

export function join(...parts: string[]): string {
  const s = parts.filter((p) => p !== '').join('/');
  return s === '' ? '.' : normalize(s);
}

export function resolve(...parts: string[]): string {
  let acc = '';
  for (let i = parts.length - 1; i >= 0 && !isAbsolute(acc); i--) if (parts[i]) acc = acc ? `${parts[i]}/${acc}` : parts[i];
  if (!isAbsolute(acc)) acc = `/${acc}`;
  return normalizeParts(acc.split('/'), true);
}

export function dirname(p: string): string {
  const s = p.replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : s.slice(0, i);
}

export function basename(p: string, ext?: string): string {
  const s = p.replace(/\/+$/, '');
  const b = s.slice(s.lastIndexOf('/') + 1);
  return ext && b.endsWith(ext) && b !== ext ? b.slice(0, -ext.length) : b;
}

export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i);
}

export function relative(from: string, to: string): string {
  const a = resolve(from).split('/').filter(Boolean);
  const b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}

export default { sep, isAbsolute, normalize, join, resolve, dirname, basename, extname, relative };
