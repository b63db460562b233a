// The string-keyed layer registry, as Caffe's LayerRegistry: each layer file registers its type.
import { cloneMessage, type Message } from '../proto/schema.js';
import { CaffeError, NetError } from '../util/errors.js';
import type { Layer } from './layer.js';

export type LayerCtor = new (param: Message) => Layer;

const registry = new Map<string, LayerCtor>();

export function registerLayer(type: string, ctor: LayerCtor): void {
  if (registry.has(type)) throw new CaffeError(`layer type '${type}' is registered twice`);
  registry.set(type, ctor);
}

/** Types known to be Caffe's but which this build does not run, with the reason. */
const unsupported = new Map<string, string>([
  ['Python', 'Python layers run user Python code, which caffe-ts cannot execute'],
]);

export function markUnsupported(type: string, why: string): void {
  unsupported.set(type, why);
}

export function createLayer(param: Message): Layer {
  const type: string = param.type;
  const ctor = registry.get(type);
  if (!ctor) {
    const why = unsupported.get(type);
    const name = param.name ? `'${param.name}'` : '(unnamed)';
    if (why) throw new NetError(`layer ${name}: type '${type}' is not supported: ${why}`);
    const near = [...registry.keys()].find((k) => k.toLowerCase() === String(type).toLowerCase());
    throw new NetError(`layer ${name}: unknown layer type '${type}'${near ? ` (did you mean '${near}'?)` : ''}`);
  }
  // Each layer owns its copy of the parameter, as Caffe's layer_param_ (loss layers and
  // BatchNorm edit theirs).
  return new ctor(cloneMessage(param, 'LayerParameter'));
}

export function layerTypes(): string[] {
  return [...registry.keys()].sort();
}
