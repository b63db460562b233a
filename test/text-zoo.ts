// Reads the model zoo's INDEX.md (fixtures/zoo-files, a copy of the prototxts and INDEX.md of
// ../shared/zoo; CAFFE_TS_ZOO may point at another copy): per entry, its .prototxt files and the result of the reference
// parse check (protoc --encode with BVLC caffe.proto): "parse: N OK, M FAIL (file: Message type
// "caffe.X" has no field named "y".; ...)" (the failure list may be cut short with "...").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { forkFieldInfo, has, protobuf, type Message, type Type } from '../src/proto/schema.js';

export const ZOO = process.env.CAFFE_TS_ZOO ?? join(import.meta.dirname, '..', 'fixtures', 'zoo-files');

export interface ZooFailure {
  file: string;
  type: string; // e.g. caffe.LayerParameter
  field: string; // e.g. permute_param
}

export interface ZooEntry {
  dir: string;
  files: string[]; // .prototxt files, relative to dir
  ok: number;
  fail: number;
  failures: ZooFailure[]; // the listed ones (maybe not all)
}

export function readZooIndex(): ZooEntry[] {
  const text = readFileSync(join(ZOO, 'INDEX.md'), 'utf8');
  const entries: ZooEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^- \*\*([^*]+)\*\* \| files: (.*?) \| src:/.exec(line);
    if (!m) continue;
    const dir = m[1];
    const files = m[2]
      .split(', ')
      .map((f) => f.replace(/ \([\d,]+ B\)$/, '').trim())
      .filter((f) => f.includes('.prototxt'));
    const p = /\| parse: (\d+) OK(?:, (\d+) FAIL \((.*?)\))? \|/.exec(line);
    if (!p) throw new Error(`INDEX.md: no parse result for ${dir}`);
    const failures: ZooFailure[] = [];
    for (const f of (p[3] ?? '').matchAll(/([^;]+?): Message type "([^"]+)" has no field named "([^"]+)"\./g)) {
      failures.push({ file: f[1].trim(), type: f[2], field: f[3] });
    }
    entries.push({ dir, files, ok: Number(p[1]), fail: Number(p[2] ?? 0), failures });
  }
  return entries;
}

/** The message a zoo prototxt holds, by its file name (as the reference check decided). */
export function zooTypeOf(file: string): 'SolverParameter' | 'NetParameter' {
  return /solver/i.test(file.split('/').pop()!) ? 'SolverParameter' : 'NetParameter';
}

/** Whether a parsed message sets a field that one of Caffe's forks adds (proto/forks/*.proto). */
export function usesForkField(m: Message, t: Type): boolean {
  for (const f of t.fieldsArray) {
    if (!has(m, f.name)) continue;
    if (forkFieldInfo(f)) return true;
    if (f.resolvedType instanceof protobuf.Type) {
      const sub = f.resolvedType;
      const values: Message[] = f.repeated ? m[f.name] : [m[f.name]];
      if (values.some((v) => usesForkField(v, sub))) return true;
    }
  }
  return false;
}

