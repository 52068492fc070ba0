// #15: values.schema.json checked by tp's engine (the keywords Helm charts use for values).
import test from 'ava';
import { HelmError } from '../../../lib/helm/errors.js';
import { checkValues, parseValuesSchema, schemaProblems } from '../../../lib/helm/schema.js';

const schema = parseValuesSchema(JSON.stringify({
  type: 'object', additionalProperties: false, required: ['image'],
  properties: {
    image: { type: 'object', properties: { repository: { type: 'string', minLength: 1 }, tag: { type: 'string', maxLength: 5 } } },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    ratio: { type: 'number' },
    level: { enum: ['info', 'debug'] },
    names: { type: 'array', maxItems: 2, items: { type: 'string', pattern: '^[a-z]+$' } },
    labels: { type: 'object', additionalProperties: { type: ['string', 'number'] } },
    fixed: { const: 1 },
  },
}), 't');

test('#15: values that fit the schema pass; integers count as numbers', (t) => {
  t.deepEqual(schemaProblems(schema, { image: { repository: 'r', tag: 'v1' }, port: 8080, ratio: 2, level: 'info', names: ['a'], labels: { a: 'x', b: 1 }, fixed: 1 }), []);
});

test('#15: every kind of breach is named by its --set path', (t) => {
  t.deepEqual(schemaProblems(schema, {
    image: { repository: '', tag: 'toolong' }, port: 1.5, level: 'trace', names: ['ok', 'Bad', 'c'], labels: { a: true }, fixed: 2, extra: 1,
  }), [
    'image.repository must not be empty',
    'image.tag must be at most 5 characters',
    'port must be integer, not number 1.5',
    'level "trace" is not one of "info", "debug"',
    'names allows at most 2 items',
    'names[1] "Bad" does not match ^[a-z]+$',
    'labels.a must be string or number, not boolean true',
    'fixed must be 1',
    'extra is not a value of this chart (it has: image, port, ratio, level, names, labels, fixed)',
  ]);
  t.deepEqual(schemaProblems(schema, {}), ['image is required']);
  t.deepEqual(schemaProblems(schema, { image: {}, port: 0 }), ['port 0 is below the minimum 1']);
});

test('#15: checkValues throws one E_HELM_VALUES sentence; a keyword tp cannot check is refused when the schema loads', (t) => {
  const e = t.throws(() => checkValues(JSON.stringify({ properties: { a: { type: 'string' } } }), { a: 1 }, 'tp'), { instanceOf: HelmError });
  t.is(e.code, 'E_HELM_VALUES');
  t.is(e.message, 'the values break the tp chart\'s schema: a must be string, not integer 1');
  const k = t.throws(() => parseValuesSchema(JSON.stringify({ properties: { a: { oneOf: [] } } }), 'tp'), { instanceOf: HelmError });
  t.regex(k.message, /uses "oneOf" \(at \/properties\/a\), which tp's chart engine does not check/);
});
