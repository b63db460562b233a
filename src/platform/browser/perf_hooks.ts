// node:perf_hooks in the browser bundle: the page's own clock.
export const performance = globalThis.performance;
export default { performance };
