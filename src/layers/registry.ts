// The string-keyed layer registry, as Caffe's LayerRegistry: each layer file registers its type.
// Layers of your own register the same way, from TypeScript; a `type: "Python"` layer resolves to
// the layer registered under its python_param's "module.layer" (Caffe runs that Python class).
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
const unsupported = new Map<string, string>();

export function markUnsupported(type: string, why: string): void {
  unsupported.set(type, why);
}

/** The registry key of a Python layer: its python_param's "module.layer". */
export function pythonLayerKey(param: Message): string {
  const pp = param.python_param;
  return `${pp?.module ?? ''}.${pp?.layer ?? ''}`;
}

export function createLayer(param: Message): Layer {
  const type: string = param.type;
  if (type === 'Python') {
    const key = pythonLayerKey(param);
    const name = param.name ? `'${param.name}'` : '(unnamed)';
    const pyCtor = registry.get(key);
    if (!pyCtor) {
      throw new CaffeError(`layer ${name}: Python layer '${key}' is not registered: caffe-ts cannot run Python code; ` +
        `write the layer in TypeScript and register it with registerLayer('${key}', MyLayer) before building the net`);
    }
    return new pyCtor(cloneMessage(param, 'LayerParameter'));
  }
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
