// The few things of Node's `process` that core modules touch, for the browser bundle (injected by
// scripts/build-web.mjs where code reads the global): no environment, the page's console.
const log = (line: string) => console.warn(String(line).replace(/\n$/, ''));

export const process = {
  env: {} as Record<string, string | undefined>,
  argv: [] as string[],
  platform: 'browser',
  versions: {} as Record<string, string>,
  cwd: (): string => '/',
  on: (): void => {},
  stdout: { write: (s: string) => (console.log(String(s).replace(/\n$/, '')), true), isTTY: false },
  stderr: { write: (s: string) => (log(s), true), isTTY: false },
};
