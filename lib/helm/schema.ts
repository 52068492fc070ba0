// values.schema.json, checked as Helm checks it: the final values (chart defaults, -f files,
// --set) against the chart's JSON Schema, before anything is rendered; a value the schema refuses
// fails `tp helm install` as it fails `helm install` (test/unit/helm/helm-compare.test.ts runs
// both on the same bad values).
//
// The subset of JSON Schema (draft-07) that charts use for values, and that tp's own chart uses:
// type (one or a list; "integer" is a number without a fraction), enum, const, properties,
// additionalProperties (false or a schema), required, items (one schema), minimum, maximum,
// minLength, maxLength, pattern, minItems, maxItems. Annotations (title, description, default,
// examples, $schema, $id, $comment) are ignored. Any other keyword is refused when the schema is
// loaded: a check tp cannot make must not pass silently.
import { HelmError } from './errors.js';

type Schema = Record<string, unknown>;

const CHECKED = new Set(['type', 'enum', 'const', 'properties', 'additionalProperties', 'required', 'items', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems']);
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks that every keyword is one this validator knows. */
export function parseValuesSchema(text: string, chart: string): Schema {
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (err) {
    throw new HelmError('E_HELM_CHART', `${chart}: values.schema.json is not JSON: ${(err as Error).message}`);
  }
  const walk = (s: unknown, at: string) => {
    if (typeof s === 'boolean') return;
    if (!isObj(s)) throw new HelmError('E_HELM_CHART', `${chart}: values.schema.json at ${at || '/'} is not a schema`);
    for (const k of Object.keys(s)) {
      if (!CHECKED.has(k) && !ANNOTATIONS.has(k)) throw new HelmError('E_HELM_CHART', `${chart}: values.schema.json uses "${k}" (at ${at || '/'}), which tp's chart engine does not check`, { hint: 'keep to the keywords listed in lib/helm/README.md' });
    }
    if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) walk(v, `${at}/properties/${k}`);
    if (s.additionalProperties !== undefined) walk(s.additionalProperties, `${at}/additionalProperties`);
    if (s.items !== undefined) walk(s.items, `${at}/items`);
  };
  walk(schema, '');
  return schema as Schema;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v; // string, boolean, object
}

const fits = (v: unknown, t: string) => {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
};

/** Dotted path as users write it in --set: image.tag, managedNamespaces[0]. */
const join = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);
const show = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

/** Every way `value` breaks `schema`, one sentence each. */
export function schemaProblems(schema: Schema | boolean, value: unknown, path = ''): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path || 'the values'} is not allowed`];
  const where = path || 'the values';
  const out: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => fits(value, t))) return [`${where} must be ${types.join(' or ')}, not ${typeOf(value)} ${show(value)}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.push(`${where} ${show(value)} is not one of ${schema.enum.map(show).join(', ')}`);
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) out.push(`${where} must be ${show(schema.const)}`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${where} ${value} is below the minimum ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${where} ${value} is above the maximum ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    const len = [...value].length;
    if (typeof schema.minLength === 'number' && len < schema.minLength) out.push(schema.minLength === 1 ? `${where} must not be empty` : `${where} must be at least ${schema.minLength} characters`);
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) out.push(`${where} must be at most ${schema.maxLength} characters`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) out.push(`${where} ${show(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) out.push(`${where} needs at least ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) out.push(`${where} allows at most ${schema.maxItems} items`);
    if (schema.items !== undefined) value.forEach((v, i) => out.push(...schemaProblems(schema.items as Schema, v, join(path, i))));
  }
  if (isObj(value)) {
    const props = isObj(schema.properties) ? schema.properties : {};
    for (const r of Array.isArray(schema.required) ? (schema.required as string[]) : []) {
      if (!(r in value)) out.push(`${join(path, r)} is required`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (k in props) out.push(...schemaProblems(props[k] as Schema, v, join(path, k)));
      else if (schema.additionalProperties === false) out.push(`${join(path, k)} is not a value of this chart${Object.keys(props).length ? ` (it has: ${Object.keys(props).join(', ')})` : ''}`);
      else if (isObj(schema.additionalProperties) || typeof schema.additionalProperties === 'boolean') out.push(...schemaProblems(schema.additionalProperties as Schema, v, join(path, k)));
    }
  }
  return out;
}

/** Throws E_HELM_VALUES naming every value the chart's schema refuses. */
export function checkValues(schemaText: string, values: unknown, chart: string): void {
  const problems = schemaProblems(parseValuesSchema(schemaText, chart), values);
  if (problems.length === 0) return;
  throw new HelmError('E_HELM_VALUES', `the values break the ${chart} chart's schema: ${problems.join('; ')}`,
    { hint: 'fix the --set / -f values (helm/values.schema.json says what each takes)' });
}
