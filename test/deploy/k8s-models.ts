// Kubernetes objects checked against the API's own schema without a cluster: @kubernetes/client-node
// ships a model class per OpenAPI definition (generated from the Kubernetes release's spec), each
// with its fields' JSON names and types. Walking an object through them finds what `kubectl apply`
// would refuse or silently drop: fields the API does not have (a typo, a field at the wrong level)
// and values of the wrong type. Required fields are not in the generated models; the structural
// tests in deploy.test.ts cover the ones that matter here.
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
}
interface Model {
  getAttributeTypeMap(): Attribute[];
}

const models = k8s as unknown as Record<string, Model | undefined>;

function model(name: string): Model | undefined {
  const m = models[name];
  return typeof m?.getAttributeTypeMap === 'function' ? m : undefined;
}

/** The model of a built-in kind: apps/v1 Deployment → V1Deployment; undefined for custom resources. */
export function modelName(apiVersion: string, kind: string): string | undefined {
  const version = apiVersion.split('/').pop() ?? '';
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  return model(name) ? name : undefined;
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;
const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Every way `value` departs from the model `type`, as `path: problem`. */
export function check(value: unknown, type: string, at = ''): string[] {
  const here = at || '(root)';
  if (type === 'any' || type === 'object') return [];
  if (type === 'string' || type === 'Date') return typeof value === 'string' ? [] : [`${here}: expected a string, got ${typeOf(value)}`];
  if (type === 'number') return typeof value === 'number' ? [] : [`${here}: expected a number, got ${typeOf(value)}`];
  if (type === 'boolean') return typeof value === 'boolean' ? [] : [`${here}: expected a boolean, got ${typeOf(value)}`];
  if (type === 'IntOrString')
    return typeof value === 'string' || Number.isInteger(value) ? [] : [`${here}: expected an integer or a string, got ${typeOf(value)}`];
  const arr = ARRAY.exec(type);
  if (arr) {
    if (!Array.isArray(value)) return [`${here}: expected a list, got ${typeOf(value)}`];
    return value.flatMap((v, i) => check(v, arr[1]!, `${at}[${i}]`));
  }
  const map = MAP.exec(type);
  if (map) {
    if (typeOf(value) !== 'object') return [`${here}: expected a map, got ${typeOf(value)}`];
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => check(v, map[1]!, `${at}[${k}]`));
  }
  const m = model(type);
  if (!m) return [`${here}: no model ${type} in the Kubernetes API`];
  if (typeOf(value) !== 'object') return [`${here}: expected an object (${type}), got ${typeOf(value)}`];
  const attrs = new Map(m.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const t = attrs.get(k);
    const p = at ? `${at}.${k}` : k;
    if (t === undefined) out.push(`${p}: not a field of ${type}`);
    else if (v !== null) out.push(...check(v, t, p));
  }
  return out;
}
