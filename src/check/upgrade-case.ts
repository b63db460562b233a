// One `kind: upgrade` reference case (fixtures/FORMAT.md): run the upgrade Caffe's tool ran
// (upgrade_net_proto_text / upgrade_solver_proto_text / upgrade_net_proto_binary, chosen from the
// input's content exactly as `upgradeFile` does) and compare what we would write with what Caffe
// wrote: both are decoded and compared as messages (presence-aware), so field order and
// formatting do not matter.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseText } from '../format/text.js';
import { decodeMessage } from '../format/binary.js';
import { messagesDiff } from '../format/equal.js';
import { upgradeBytes, type UpgradeTool } from '../format/io.js';

export interface UpgradeCaseResult {
  ok: boolean;
  detail?: string;
  /** Our output, in the expected file's format, under the expected file's name (for --dump). */
  produced: { file: string; bytes: Uint8Array };
}

interface UpgradeCaseJson {
  kind?: string;
  name?: string;
  what: 'net' | 'solver' | 'binary';
  input: string;
  expected: string;
}

const TOOL_FOR: Record<UpgradeCaseJson['what'], UpgradeTool> = {
  net: 'upgrade_net_proto_text',
  solver: 'upgrade_solver_proto_text',
  binary: 'upgrade_net_proto_binary',
};

export function runUpgradeCase(caseDir: string): UpgradeCaseResult {
  let spec: UpgradeCaseJson;
  try {
    spec = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as UpgradeCaseJson;
  } catch (e) {
    return { ok: false, detail: `cannot read case.json: ${(e as Error).message}`, produced: { file: 'expected', bytes: new Uint8Array(0) } };
  }
  const producedFile = basename(spec.expected ?? 'expected');
  const fail = (detail: string, bytes: Uint8Array = new Uint8Array(0)): UpgradeCaseResult => ({
    ok: false,
    detail,
    produced: { file: producedFile, bytes },
  });
  if (spec.kind !== undefined && spec.kind !== 'upgrade') return fail(`not an upgrade case (kind '${spec.kind}')`);
  if (!Object.hasOwn(TOOL_FOR, spec.what)) return fail(`unknown 'what': ${String(spec.what)}`);
  const inPath = join(caseDir, spec.input);
  const expPath = join(caseDir, spec.expected);
  const typeName = spec.what === 'solver' ? 'SolverParameter' : 'NetParameter';

  let result;
  try {
    result = upgradeBytes(readFileSync(inPath), inPath);
  } catch (e) {
    return fail(`upgrade failed: ${(e as Error).message}`);
  }
  const bytes = result.bytes;
  if (result.tool !== TOOL_FOR[spec.what]) {
    return fail(`content detected as ${result.tool}, the case says ${TOOL_FOR[spec.what]} (what: ${spec.what})`, bytes);
  }

  try {
    const expBytes = readFileSync(expPath);
    const binary = spec.what === 'binary';
    const expected = binary
      ? decodeMessage(expBytes, typeName, expPath)
      : parseText(expBytes.toString('utf8'), typeName, expPath);
    // Compare what we would write, read back (so the printer/encoder is part of the check).
    const ours = binary
      ? decodeMessage(bytes, typeName, `<ours:${producedFile}>`)
      : parseText(Buffer.from(bytes).toString('utf8'), typeName, `<ours:${producedFile}>`);
    const diff = messagesDiff(ours, expected, typeName);
    if (diff !== null) return fail(`ours vs expected: ${diff}`, bytes);
    const detail = result.success ? undefined : `Caffe's tool would report problems: ${result.log.join(' | ')}`;
    return { ok: true, detail, produced: { file: producedFile, bytes } };
  } catch (e) {
    return fail(`comparison failed: ${(e as Error).message}`, bytes);
  }
}
