import test from 'ava';
import { mkdtempSync as mkdtempRaw, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelmError } from '../../../lib/helm/errors.js';
import { coalesce, mergeMaps, parseSet, parseYaml, userValues } from '../../../lib/helm/values.js';

/** Temp dirs made by these tests, removed at the end. */
const made: string[] = [];
const mkdtempSync = (prefix: string): string => {
  const d = mkdtempRaw(prefix);
  made.push(d);
  return d;
};
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const set = (...args: string[]) => userValues({ set: args });

test('coalesce: user values win, maps merge key by key, defaults fill the rest', (t) => {
  const defaults = { image: { repository: 'r', tag: '', pullPolicy: 'IfNotPresent' }, logLevel: 'info' };
  t.deepEqual(coalesce({ image: { tag: '1.2' } }, defaults),
    { image: { repository: 'r', tag: '1.2', pullPolicy: 'IfNotPresent' }, logLevel: 'info' });
});

test('coalesce: lists are replaced, not merged', (t) => {
  t.deepEqual(coalesce({ l: ['b'] }, { l: ['a', 'c'] }), { l: ['b'] });
});

test('coalesce: a user null deletes the default, at any depth', (t) => {
  t.deepEqual(coalesce({ resources: { limits: null }, top: null },
    { resources: { limits: { cpu: 1 }, requests: { cpu: 1 } }, top: 1 }), { resources: { requests: { cpu: 1 } } });
});

test('coalesce: a scalar over a map (and a map over a scalar) takes the user value', (t) => {
  t.deepEqual(coalesce({ a: 'x', b: { c: 1 } }, { a: { deep: 1 }, b: 'y' }), { a: 'x', b: { c: 1 } });
});

test('coalesce leaves its inputs untouched', (t) => {
  const user = { m: { a: 1 } };
  const defaults = { m: { b: 2 }, n: { c: 3 } };
  const out = coalesce(user, defaults);
  (out.n as Record<string, number>).c = 99;
  t.deepEqual(user, { m: { a: 1 } });
  t.deepEqual(defaults, { m: { b: 2 }, n: { c: 3 } });
});

test('mergeMaps: a later -f file wins and merges maps', (t) => {
  t.deepEqual(mergeMaps({ a: { x: 1, y: 1 }, l: [1] }, { a: { y: 2 }, l: [2] }), { a: { x: 1, y: 2 }, l: [2] });
});

test('--set: dotted keys make nested maps; several assignments per flag', (t) => {
  t.deepEqual(set('image.tag=1.2,logLevel=debug'), { image: { tag: '1.2' }, logLevel: 'debug' });
});

test('--set: types like Helm: ints, booleans, null; 1.5 and 007 stay strings', (t) => {
  t.deepEqual(set('a=8081,b=true,c=FALSE,d=null,e=1.5,f=007,g=0,h='),
    { a: 8081, b: true, c: false, d: null, e: '1.5', f: '007', g: 0, h: '' });
});

test('--set-string keeps everything a string', (t) => {
  t.deepEqual(userValues({ setString: ['a=8081,b=true'] }), { a: '8081', b: 'true' });
});

test('--set: {a,b} is a list; list indexes make lists', (t) => {
  t.deepEqual(set('managedNamespaces={a,b}'), { managedNamespaces: ['a', 'b'] });
  t.deepEqual(set('empty={}'), { empty: [] });
  t.deepEqual(set('tolerations[1].key=k'), { tolerations: [null, { key: 'k' }] });
});

test('--set: backslash escapes commas in values and dots in keys', (t) => {
  t.deepEqual(set('podAnnotations.example\\.com/x=a\\,b'), { podAnnotations: { 'example.com/x': 'a,b' } });
});

test('--set: later flags override earlier ones and -f files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-values-'));
  const f = join(dir, 'v.yaml');
  writeFileSync(f, 'image:\n  tag: fromfile\n  repository: fromfile\n');
  t.deepEqual(userValues({ valueFiles: [f], set: ['image.tag=a', 'image.tag=b'] }),
    { image: { tag: 'b', repository: 'fromfile' } });
});

test('--set without "=" is a values error with a hint', (t) => {
  const e = t.throws(() => parseSet('image.tag', {}, false), { instanceOf: HelmError });
  t.is(e.code, 'E_HELM_VALUES');
  t.truthy(e.hint);
});

test('values YAML reads like go-yaml v2: yes is true, 0777 octal; dates stay strings', (t) => {
  t.deepEqual(parseYaml('a: yes\nb: 0777\nc: 2001-12-14\nd: 1:20'), { a: true, b: 511, c: '2001-12-14', d: '1:20' });
});

test('a values file that is not a map is rejected', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-values-'));
  const f = join(dir, 'v.yaml');
  writeFileSync(f, '- a\n- b\n');
  t.throws(() => userValues({ valueFiles: [f] }), { message: /must hold a map/ });
});
