// The published package as a user gets it: `npm pack`, install the tarball in a scratch folder
// (dependencies from the npm cache), import caffe-ts there and run its CLI on the demo model the
// package ships. Needs the build (`npm test` runs it first, as pretest).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'caffe-ts-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_loglevel: 'error' } });

describe('npm package', () => {
  it('packs without dev-only code, installs from the tarball, imports and runs', () => {
    // The build is current (pretest); packing skips the prepare script that would rebuild it.
    const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], ROOT))[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('dist/src/kernels/wasm/gemm.wasm');
    expect(files).toContain('proto/caffe.proto');
    expect(files).toContain('dist/web/caffe-ts.js');
    expect(files).toContain('dist/web/demo/index.html');
    expect(files.filter((f) => /^(test|bench|scripts|src)\/|^dist\/bench\/|\.map$/.test(f))).toEqual([]);

    const app = join(tmp, 'app');
    run('mkdir', ['-p', app], tmp);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const tgz = join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz'))!);
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tgz], app);

    const demo = join(app, 'node_modules', 'caffe-ts', 'fixtures', 'demo');
    writeFileSync(
      join(app, 'main.js'),
      `import { Net, Classifier, topK, drawNet, readNetParameter } from 'caffe-ts';
const net = Net.fromFiles(${JSON.stringify(join(demo, 'lenet.prototxt'))}, ${JSON.stringify(join(demo, 'lenet_iter_10000.caffemodel'))});
const clf = new Classifier(net, { oversample: false, inputScale: 0.00390625 });
const top = topK(clf.classifyFile(${JSON.stringify(join(demo, 'digits', 'img_7_0.png'))}), 1)[0];
const svg = drawNet(readNetParameter(${JSON.stringify(join(demo, 'lenet.prototxt'))}));
console.log(top.index, svg.startsWith('<svg'));
`,
    );
    expect(run('node', ['main.js'], app).trim()).toBe('7 true');
    // Deep imports stay private: the exports map names only the package root.
    expect(() => run('node', ['--input-type=module', '-e', "import 'caffe-ts/dist/src/graph/net.js'"], app)).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
    // The browser build is exported as caffe-ts/web.
    expect(run('node', ['--input-type=module', '-e', "console.log(import.meta.resolve('caffe-ts/web').endsWith('/dist/web/caffe-ts.js'))"], app).trim()).toBe('true');

    const bin = join(app, 'node_modules', '.bin', 'caffe-ts');
    expect(run(bin, ['--version'], app)).toMatch(/^caffe-ts \d/);
    const out = run(bin, ['classify', '--model', join(demo, 'lenet.prototxt'), '--weights', join(demo, 'lenet_iter_10000.caffemodel'), '--center-only', '--input-scale', '0.00390625', join(demo, 'digits', 'img_4_4.png')], app);
    expect(out).toMatch(/img_4_4\.png: [01]\.\d{4} "4"/);
  });
});
