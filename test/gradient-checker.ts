// The suite's gradient checker is the package's own (src/testing/gradient-checker.ts), so layers of
// your own are checked exactly as the built-in ones.
export * from '../src/testing/gradient-checker.js';
