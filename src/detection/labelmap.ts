// The SSD fork's LabelMap (labelmap.prototxt): `item { name label display_name }` per class.
import { readFileSync } from 'node:fs';
import { parseText } from '../format/text.js';
import { CaffeError } from '../util/errors.js';

export interface LabelName {
  name: string;
  displayName: string;
}

/** Parses a LabelMap prototxt: class id -> names. A label given twice is an error, as in the fork. */
export function parseLabelMap(text: string, file = '<labelmap>'): Map<number, LabelName> {
  const msg = parseText(text, 'LabelMap', file);
  const out = new Map<number, LabelName>();
  for (const item of msg.item as any[]) {
    const label: number = item.label;
    if (out.has(label)) throw new CaffeError(`${file}: label ${label} is given twice`);
    out.set(label, { name: item.name, displayName: item.display_name || item.name });
  }
  return out;
}

export function readLabelMap(path: string): Map<number, LabelName> {
  return parseLabelMap(readFileSync(path, 'utf8'), path);
}
