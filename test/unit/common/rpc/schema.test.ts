// The request-body checker (lib/common/rpc/schema.ts), issue #17: each kind accepts and refuses
// what it should, a refusal is one error with the path of the bad field, limits hold, hostile
// keys and deep input do no harm.
import test, { type ExecutionContext } from 'ava';
import * as s from '../../../../lib/common/rpc/schema.js';
import { DaemonCallError } from '../../../../lib/common/rpc/daemon.js';
import { TpError } from '../../../../lib/common/errors.js';

/** The one error a refusal is, with its sentence. */
function refused(t: ExecutionContext, schema: s.Schema<unknown>, value: unknown, message: string | RegExp): TpError {
  const e = t.throws(() => s.check(schema, value), { instanceOf: TpError }) as TpError;
  if (typeof message === 'string') t.is(e.message, message);
  else t.regex(e.message, message);
  return e;
}

test('#17: a refusal is a TpError E_BAD_REQUEST (schemaError), a whole-body refusal says "the request"', (t) => {
  const e = refused(t, s.object({}), [], 'the request must be an object');
  t.is(e.code, 'E_BAD_REQUEST');
  t.is(e.hint, undefined);
});

test('#17: string: lengths and pattern; the pattern refusal quotes the value and says what it must be', (t) => {
  const name = s.string({ minLength: 1, maxLength: 5 });
  t.is(s.check(name, 'abc'), 'abc');
  refused(t, s.object({ name }), { name: '' }, 'name: must be a non-empty string of at most 5 characters');
  refused(t, s.object({ name }), { name: 'abcdef' }, 'name: must be a non-empty string of at most 5 characters');
  refused(t, s.object({ name }), { name: 5 }, 'name: must be a non-empty string of at most 5 characters');
  refused(t, s.object({ name }), {}, 'name: must be a non-empty string of at most 5 characters');
  t.is(s.check(s.string({ maxLength: 3 }), ''), '');
  refused(t, s.string({ minLength: 2, maxLength: 3 }), 'a', 'the request must be a string of 2 to 3 characters');
  const ns = s.object({ ns: s.string({ maxLength: 63, pattern: /^[a-z]+$/, what: 'a namespace name' }) });
  refused(t, ns, { ns: 'A' }, 'ns: "A" is not a namespace name');
  refused(t, ns, { ns: 1 }, 'ns: must be a namespace name');
  refused(t, s.object({ x: s.string({ maxLength: 9, pattern: /^\d+$/ }) }), { x: 'a' }, 'x: "a" is not of the form ^\\d+$');
});

test('#17: a refused string is quoted cut to 80 characters, control characters escaped', (t) => {
  const e = refused(
    t,
    s.string({ maxLength: 500, pattern: /^a$/, what: 'a' }),
    `\n${'b'.repeat(200)}`,
    /^the request "\\nb{79}…" is not a$/,
  );
  t.false(e.message.includes('\n'));
});

test('#17: oneOf and literal', (t) => {
  const kind = s.oneOf(['intercept', 'replace', 'ingest', 'wiretap']);
  t.is(s.check(kind, 'ingest'), 'ingest');
  refused(t, s.object({ kind }), { kind: 'steal' }, 'kind: must be intercept, replace, ingest or wiretap');
  refused(t, s.object({ kind }), { kind: ['intercept'] }, 'kind: must be intercept, replace, ingest or wiretap');
  t.is(s.check(s.literal(false), false), false);
  refused(t, s.literal(false), 0, 'the request must be false');
});

test('#17: integer: safe integers within min and max; number: finite numbers', (t) => {
  const port = s.integer({ min: 1, max: 65535 });
  t.is(s.check(port, 8080), 8080);
  for (const bad of [0, 65536, 1.5, '80', NaN, Infinity, null, true])
    refused(t, port, bad, 'the request must be an integer from 1 to 65535');
  refused(t, s.integer(), 2 ** 53, 'the request must be an integer');
  refused(t, s.integer({ min: 0 }), -1, 'the request must be an integer of at least 0');
  refused(t, s.integer({ max: 9 }), 10, 'the request must be an integer of at most 9');
  t.is(s.check(s.number({ min: 0, max: 1 }), 0.5), 0.5);
  refused(t, s.number(), Infinity, 'the request must be a number');
  refused(t, s.number({ min: 0, max: 1 }), 1.5, 'the request must be a number from 0 to 1');
});

test('#17: boolean: only true and false', (t) => {
  t.true(s.check(s.boolean(), true));
  for (const bad of ['true', 1, null]) refused(t, s.boolean(), bad, 'the request must be true or false');
});

test('#17: a nested refusal names its path: ports[2].port', (t) => {
  const schema = s.object({ ports: s.array(s.object({ port: s.integer({ min: 1, max: 65535 }) }), { maxItems: 8 }) });
  t.deepEqual(s.check(schema, { ports: [{ port: 1 }, { port: 2 }] }), { ports: [{ port: 1 }, { port: 2 }] });
  refused(t, schema, { ports: [{ port: 1 }, { port: 2 }, { port: 70000 }] }, 'ports[2].port: must be an integer from 1 to 65535');
  refused(t, schema, { ports: [{ port: 1 }, 'x'] }, 'ports[1]: must be an object');
  const deep = s.object({ a: s.record(s.array(s.string({ maxLength: 1 }), { maxItems: 2 }), { maxEntries: 2 }) });
  refused(t, deep, { a: { 'x-y': ['a', 'bb'] } }, 'a["x-y"][1]: must be a string of at most 1 character');
});

test('#17: array: maxItems before any item is looked at; unique refuses or drops repeats', (t) => {
  let looked = 0;
  const counted: s.Schema<number> = { expected: 'x', run: (v) => (looked++, v as number) };
  refused(t, s.array(counted, { maxItems: 3 }), [1, 2, 3, 4], 'the request must be a list of at most 3 items');
  t.is(looked, 0);
  refused(
    t,
    s.array(s.integer(), { maxItems: 3, expected: 'a list of at most 3 ports' }),
    'x',
    'the request must be a list of at most 3 ports',
  );
  refused(
    t,
    s.object({ ns: s.array(s.string({ maxLength: 9 }), { maxItems: 9, unique: 'refuse' }) }),
    { ns: ['a', 'b', 'a'] },
    'ns[2]: "a" is given twice',
  );
  t.deepEqual(s.check(s.array(s.string({ maxLength: 9 }), { maxItems: 9, unique: 'drop' }), ['b', 'a', 'b']), ['b', 'a']);
});

test('#17: object: unknown fields refused by default, naming the known ones; strip drops them', (t) => {
  const schema = s.object({ a: s.integer(), b: s.optional(s.integer()) });
  refused(t, schema, { a: 1, c: 2 }, 'c: is not a field of this request (a, b)');
  refused(t, s.object({ o: schema }), { o: { a: 1, 'c d': 2 } }, 'o["c d"]: is not a field of this object (a, b)');
  refused(t, s.object({}), { x: 1 }, 'x: is not a field of this request (it has none)');
  t.deepEqual(s.check(s.object({ a: s.integer() }, { unknown: 'strip' }), { a: 1, c: 2 }), { a: 1 });
  const e = refused(t, s.object({}, { unknownHint: 'run tp quit' }), { x: 1 }, /^x: /);
  t.is(e.hint, 'run tp quit');
});

test('#17: object: optional fields may be absent or null and stay absent; required ones are refused with their own wording', (t) => {
  const schema = s.object({ a: s.integer(), b: s.optional(s.integer()) });
  t.deepEqual(s.check(schema, { a: 1 }), { a: 1 });
  const r = s.check(schema, { a: 1, b: null });
  t.deepEqual(r, { a: 1 });
  t.false('b' in r);
  refused(t, schema, { b: 1 }, 'a: must be an integer');
  refused(t, schema, { a: null }, 'a: must be an integer');
});

test('#17: object: only own properties are read (an inherited field is absent)', (t) => {
  const input = Object.create({ a: 1 }) as Record<string, unknown>;
  refused(t, s.object({ a: s.integer() }), input, 'a: must be an integer');
});

test('#17: record: maxEntries, keys checked by their schema, values by theirs', (t) => {
  const env = s.record(s.string({ maxLength: 8 }), {
    maxEntries: 2,
    key: s.string({ maxLength: 8, pattern: /^[A-Z_]+$/, what: 'a variable name' }),
  });
  t.deepEqual(s.check(env, { A: 'x', B_C: '' }), { A: 'x', B_C: '' });
  refused(t, env, { A: 'x', B: 'y', C: 'z' }, 'the request must be an object of at most 2 entries');
  refused(t, s.object({ env }), { env: { a: 'x' } }, 'env.a: "a" is not a variable name');
  refused(t, s.object({ env }), { env: { A: 1 } }, 'env.A: must be a string of at most 8 characters');
  refused(t, env, ['x'], 'the request must be an object of at most 2 entries');
});

test('#17: union: the first branch that accepts; otherwise one refusal naming every branch', (t) => {
  const mount = s.union([s.string({ maxLength: 9 }), s.literal(false)]);
  t.is(s.check(mount, '/x'), '/x');
  t.is(s.check(mount, false), false);
  refused(t, s.object({ mount }), { mount: true }, 'mount: must be a string of at most 9 characters or false');
  refused(t, s.union([s.integer(), s.boolean()], { expected: 'a count or a switch' }), 'x', 'the request must be a count or a switch');
});

test('#17: withDefault: absent or null reads as a fresh copy of the default', (t) => {
  const schema = s.object({ list: s.withDefault(s.array(s.integer(), { maxItems: 2 }), []) });
  const a = s.check(schema, {});
  const b = s.check(schema, { list: null });
  t.deepEqual([a, b], [{ list: [] }, { list: [] }]);
  a.list.push(1);
  t.deepEqual(s.check(schema, {}).list, []);
});

test('#17: map: normalises; refuse() gets the path; any other error passes unchanged', (t) => {
  const upper = s.map(s.string({ maxLength: 9 }), (v) => (v === 'bad' ? s.refuse(`${s.show(v)} is not allowed`) : v.toUpperCase()));
  t.deepEqual(s.check(s.object({ x: upper }), { x: 'ab' }), { x: 'AB' });
  refused(t, s.object({ x: upper }), { x: 'bad' }, 'x: "bad" is not allowed');
  const flag = s.map(s.string({ maxLength: 9 }), (v) => {
    throw new DaemonCallError('E_FLAG', `--thing ${v} is wrong`, 'fix it');
  });
  const e = t.throws(() => s.check(s.object({ x: flag }), { x: 'y' }), { instanceOf: DaemonCallError }) as DaemonCallError;
  t.deepEqual([e.code, e.message, e.hint], ['E_FLAG', '--thing y is wrong', 'fix it']);
});

test("#17: wording: a schema may carry its own sentence, code and hint (a flag's fault)", (t) => {
  const local = s.integer({
    min: 1,
    max: 65535,
    code: 'E_FLAG',
    message: (p) => `local port ${s.show(p)} is out of range 1-65535`,
    hint: 'use --port',
  });
  const e = refused(
    t,
    s.object({ ports: s.array(s.object({ local }), { maxItems: 2 }) }),
    { ports: [{ local: 0 }] },
    'local port 0 is out of range 1-65535',
  );
  t.deepEqual([e.code, e.hint], ['E_FLAG', 'use --port']);
  const coded = refused(t, s.object({ a: s.integer({ code: 'E_FLAG' }) }), { a: 'x' }, 'a: must be an integer');
  t.is(coded.code, 'E_FLAG');
});

test('#17: empty: absent, null and {} are no arguments; a field is refused unless stripped', (t) => {
  for (const v of [undefined, null, {}]) t.deepEqual(s.check(s.empty(), v), {});
  refused(t, s.empty(), { a: 1 }, 'a: is not a field of this request (it has none)');
  refused(t, s.empty(), [1], 'the request must be an object');
  t.deepEqual(s.check(s.empty({ unknown: 'strip' }), { a: 1 }), {});
});

test('#17: prototype pollution: "__proto__" and "constructor" are unknown fields of an object, plain keys of a map', (t) => {
  const schema = s.object({ a: s.string({ maxLength: 9 }) });
  refused(t, schema, JSON.parse('{"a":"x","__proto__":{"polluted":true}}'), /^__proto__: is not a field of this request/);
  refused(t, schema, JSON.parse('{"a":"x","constructor":{"prototype":{"polluted":true}}}'), /^constructor: is not a field of this request/);
  const stripped = s.check(
    s.object({ a: s.string({ maxLength: 9 }) }, { unknown: 'strip' }),
    JSON.parse('{"a":"x","__proto__":{"polluted":true}}'),
  );
  t.deepEqual(Object.keys(stripped), ['a']);
  t.is(Object.getPrototypeOf(stripped), Object.prototype);

  const map = s.check(
    s.record(s.string({ maxLength: 9 }), { maxEntries: 9 }),
    JSON.parse('{"__proto__":"x","constructor":"y","toString":"z"}'),
  );
  t.is(Object.getPrototypeOf(map), Object.prototype, 'the key became an own property, not a prototype');
  t.deepEqual(Object.keys(map), ['__proto__', 'constructor', 'toString']);
  const nested = s.check(
    s.record(s.record(s.string({ maxLength: 9 }), { maxEntries: 9 }), { maxEntries: 9 }),
    JSON.parse('{"__proto__":{"polluted":"yes"}}'),
  );
  t.is(Object.getPrototypeOf(nested), Object.prototype);
  t.is(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
});

test('#17: deeply nested input: the checker goes only as deep as the schema, and never prints the structure', (t) => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  refused(t, s.object({ a: s.array(s.array(s.integer(), { maxItems: 9 }), { maxItems: 9 }) }), { a: deep }, 'a[0][0]: must be an integer');
  refused(t, s.object({ a: s.string({ maxLength: 9 }) }), { a: deep }, 'a: must be a string of at most 9 characters');
  const worded = s.object({ a: s.integer({ message: (v) => `${s.show(v)} is no count` }) });
  refused(t, worded, { a: deep }, 'a list is no count');
  refused(t, worded, { a: { deep } }, 'an object is no count');
});

test("#17: Infer: the checked value has the schema's type (compile-time; a wrong use does not build)", (t) => {
  const schema = s.object({
    name: s.string({ maxLength: 9 }),
    port: s.optional(s.integer()),
    kind: s.oneOf(['a', 'b']),
    tags: s.array(s.string({ maxLength: 9 }), { maxItems: 2 }),
  });
  type Req = s.Infer<typeof schema>;
  const r: Req = s.check(schema, { name: 'x', kind: 'a', tags: [] });
  const name: string = r.name;
  const port: number | undefined = r.port;
  const kind: 'a' | 'b' = r.kind;
  // @ts-expect-error: port is optional, so it may be undefined
  const strict: number = r.port;
  // @ts-expect-error: no such field
  void r.other;
  const declared: { name: string; port?: number; kind: 'a' | 'b'; tags: string[] } = r;
  true satisfies s.Agrees<{ name: string; port?: number; kind: 'a' | 'b'; tags: string[] }, typeof schema>;
  // @ts-expect-error: a declared type with a field the schema lacks does not agree
  true satisfies s.Agrees<{ name: string; port?: number; kind: 'a' | 'b'; tags: string[]; extra: string }, typeof schema>;
  t.deepEqual([name, port, kind, strict, declared], ['x', undefined, 'a', undefined, r]);
});
