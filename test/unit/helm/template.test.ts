import test from 'ava';
import { HelmError } from '../../../lib/helm/errors.js';
import { TemplateSet } from '../../../lib/helm/template/exec.js';
import { FUNCS } from '../../../lib/helm/template/funcs.js';

/** Render `src` (file t/x.yaml) with `data`; `helpers` is parsed first as t/_h.tpl. */
function render(src: string, data: unknown = {}, helpers = ''): string {
  const set = new TemplateSet(FUNCS);
  if (helpers) set.add('t/_h.tpl', helpers);
  set.add('t/x.yaml', src);
  return set.execute('t/x.yaml', data);
}

function renderError(src: string, data: unknown = {}): HelmError {
  const e = (() => {
    try {
      render(src, data);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof HelmError)) throw new Error(`expected a HelmError, got ${String(e)}`);
  return e;
}

// --- text, actions, trimming ------------------------------------------------------------------

test('text without actions comes out unchanged', (t) => {
  t.is(render('a: 1\n  b: {x}\n'), 'a: 1\n  b: {x}\n');
});

test('{{- trims all whitespace before the action, -}} all after', (t) => {
  t.is(render('a:  \n\n  {{- "x" -}}  \n\n b'), 'a:xb');
});

test('a dash without a space is a negative number, not a trim marker', (t) => {
  t.is(render('a {{-3}} b'), 'a -3 b');
});

test('comments print nothing and may trim around them', (t) => {
  t.is(render('a {{/* hidden */}} b'), 'a  b');
  t.is(render('a\n{{- /* hidden\n over lines */ -}}\nb'), 'ab');
});

test('missing map keys print nothing (Helm erases "<no value>"; the set leaves it)', (t) => {
  t.is(render('[{{ .nope }}]', {}), '[<no value>]');
});

test('numbers print like Go: integers whole, floats shortest', (t) => {
  t.is(render('{{ .a }} {{ .b }} {{ .c }} {{ .d }}', { a: 8081, b: 0.5, c: 1e21, d: 0.00001 }), '8081 0.5 1e+21 1e-05');
});

test('lists and maps print like Go %v', (t) => {
  t.is(render('{{ .l }} {{ .m }}', { l: ['a', 1, true], m: { b: 2, a: [1] } }), '[a 1 true] map[a:[1] b:2]');
});

// --- fields, variables, dot -------------------------------------------------------------------

test('field chains walk nested maps', (t) => {
  t.is(render('{{ .Values.image.repository }}', { Values: { image: { repository: 'r' } } }), 'r');
});

test('a field of a missing key fails like Go: nil pointer evaluating', (t) => {
  const e = renderError('x\n{{ .Values.image.tag }}', { Values: {} });
  t.regex(e.message, /t\/x\.yaml:2: .*nil pointer evaluating interface \{\}\.tag/);
});

test('a field of a string fails: can\'t evaluate field', (t) => {
  t.regex(renderError('{{ .a.b }}', { a: 's' }).message, /can't evaluate field b in type string/);
});

test('$ is the root even inside range and with', (t) => {
  t.is(render('{{ range .l }}{{ $.n }}{{ . }} {{ end }}', { l: [1, 2], n: 'x' }), 'x1 x2 ');
});

test('variables: declare, reassign, and scope ends with the block', (t) => {
  t.is(render('{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}'), '32');
  const e = (() => { try { render('{{ if true }}{{ $y := 3 }}{{ end }}\n{{ $y }}'); } catch (err) { return err as Error; } return null; })();
  t.regex(e!.message, /t\/x\.yaml:2: undefined variable "\$y"/);
});

test('a declaration prints nothing', (t) => {
  t.is(render('a{{ $x := "v" }}b{{ $x }}'), 'abv');
});

// --- control structures -----------------------------------------------------------------------

test('if / else if / else picks the first true branch', (t) => {
  const tpl = '{{ if eq .n 1 }}one{{ else if eq .n 2 }}two{{ else }}many{{ end }}';
  t.is(render(tpl, { n: 1 }), 'one');
  t.is(render(tpl, { n: 2 }), 'two');
  t.is(render(tpl, { n: 3 }), 'many');
});

test('if: empty string, 0, false, nil, empty list and empty map are false', (t) => {
  for (const v of ['', 0, false, null, [], {}]) t.is(render('{{ if .v }}T{{ else }}F{{ end }}', { v }), 'F');
  for (const v of ['x', 1, true, [0], { a: 1 }]) t.is(render('{{ if .v }}T{{ else }}F{{ end }}', { v }), 'T');
});

test('with sets dot to its value, else runs on an empty value', (t) => {
  t.is(render('{{ with .m }}{{ .a }}{{ else }}none{{ end }}', { m: { a: 'A' } }), 'A');
  t.is(render('{{ with .m }}{{ .a }}{{ else }}none{{ end }}', { m: {} }), 'none');
});

test('range over a list with index and element variables', (t) => {
  t.is(render('{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}', { l: ['a', 'b'] }), '0=a;1=b;');
});

test('range over a map goes in sorted key order, like Go', (t) => {
  t.is(render('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { zeta: 1, alpha: 2, mid: 3 } }),
    'alpha=2;mid=3;zeta=1;');
});

test('range else runs for an empty or missing collection', (t) => {
  t.is(render('{{ range .l }}x{{ else }}empty{{ end }}', { l: [] }), 'empty');
  t.is(render('{{ range .nope }}x{{ else }}empty{{ end }}', {}), 'empty');
});

test('range supports break and continue', (t) => {
  t.is(render('{{ range .l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}',
    { l: [1, 2, 3, 4, 5] }), '13');
});

test('range over a string is an error naming the file and line', (t) => {
  t.regex(renderError('\n\n{{ range .s }}{{ end }}', { s: 'abc' }).message, /t\/x\.yaml:3: .*range can't iterate over abc/);
});

// --- define / include / template --------------------------------------------------------------

test('define + include render with the given dot; template writes inline', (t) => {
  const helpers = '{{- define "greet" -}}hi {{ .who }}{{- end -}}';
  t.is(render('{{ include "greet" (dict "who" "you") | upper }}|{{ template "greet" .p }}', { p: { who: 'me' } }, helpers),
    'HI YOU|hi me');
});

test('inside a define, $ is the included dot', (t) => {
  t.is(render('{{ include "d" .inner }}', { inner: { v: 1 }, v: 2 }, '{{ define "d" }}{{ $.v }}{{ end }}'), '1');
});

test('include of an unknown template is an error', (t) => {
  t.regex(renderError('{{ include "nope" . }}').message, /no template "nope"/);
});

test('a self-including define fails instead of overflowing the stack', (t) => {
  const set = new TemplateSet(FUNCS);
  set.add('t/x.yaml', '{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}');
  t.throws(() => set.execute('t/x.yaml', {}), { message: /exceeded max template depth/ });
});

// --- pipelines and functions ------------------------------------------------------------------

test('a pipeline passes each result as the last argument', (t) => {
  t.is(render('{{ "abcdef-" | trunc 5 | trimSuffix "e" | printf "%s!" }}'), 'abcd!');
});

test('parenthesised pipelines are arguments and may be followed by fields', (t) => {
  t.is(render('{{ (dict "a" (dict "b" "deep")).a.b }}'), 'deep');
});

test('toYaml + nindent produce an indented block, keys sorted', (t) => {
  t.is(render('r:{{ toYaml .r | nindent 2 }}', { r: { limits: { memory: '1Gi' }, args: ['a', 'b'] } }),
    'r:\n  args:\n  - a\n  - b\n  limits:\n    memory: 1Gi');
});

test('toYaml quotes strings YAML 1.1 would read as something else', (t) => {
  t.is(render('{{ toYaml .m }}', { m: { a: 'y', b: 'on', c: '0777', d: 'text' } }), 'a: "y"\nb: "on"\nc: "0777"\nd: text');
});

test('indent pads every line; quote uses Go escapes and skips nil', (t) => {
  t.is(render('{{ indent 2 "a\\nb" }}'), '  a\n  b');
  t.is(render('{{ quote "a\\"b" 1 .nope }}'), '"a\\"b" "1"');
});

test('default replaces empty values only', (t) => {
  t.is(render('{{ .a | default "d" }} {{ .b | default "d" }} {{ .c | default 5 }}', { a: '', b: 'set', c: 0 }), 'd set 5');
});

test('required fails with its message, file and line', (t) => {
  const e = renderError('a\nb: {{ required "image.repository must be set" .repo }}', { repo: '' });
  t.is(e.code, 'E_HELM_TEMPLATE_EXEC');
  t.regex(e.message, /t\/x\.yaml:2: .*image\.repository must be set/);
});

test('eq/ne/and/or/not follow Go: and/or return an operand and stop early', (t) => {
  t.is(render('{{ eq 1 2 1 }} {{ ne "a" "b" }} {{ and 1 "" 2 }}|{{ or "" 0 "x" }} {{ not .nope }}'), 'true true |x true');
  t.is(render('{{ or .a .a.b }}', { a: 'set' }), 'set', 'or stops before evaluating .a.b');
});

test('eq of a string and a number is an error, as in Go', (t) => {
  t.regex(renderError('{{ eq "1" 1 }}').message, /incompatible types for comparison/);
});

test('empty, list, dict, int, toString, join, printf', (t) => {
  t.is(render('{{ empty .m }} {{ list 1 "a" }} {{ dict "k" 1 }} {{ int "42" }} {{ int 3.9 }} {{ toString 5 | quote }}'),
    'true [1 a] map[k:1] 42 3 "5"');
  t.is(render('{{ join "," .l }} {{ printf "%s-%d-%v-%q" "a" 7 true "q" }}', { l: ['x', 'y'] }), 'x,y a-7-true-"q"');
});

test('wrong argument counts are errors', (t) => {
  t.regex(renderError('{{ trunc 3 }}').message, /wrong number of args for trunc: want 2 got 1/);
});

test('a string function given a number fails like Go (wrong type)', (t) => {
  t.regex(renderError('{{ trimSuffix "-" 5 }}').message, /expected string; got int/);
});

// --- parse errors -----------------------------------------------------------------------------

const parseError = (src: string): HelmError => {
  try {
    new TemplateSet(FUNCS).add('t/bad.yaml', src);
  } catch (e) {
    if (e instanceof HelmError) return e;
    throw e;
  }
  throw new Error('expected a parse error');
};

test('unknown functions are parse errors naming file and line', (t) => {
  const e = parseError('a: 1\nb: {{ lookup "v1" "Pod" "" "" }}');
  t.is(e.code, 'E_HELM_TEMPLATE_PARSE');
  t.is(e.message, 'template: t/bad.yaml:2: function "lookup" not defined');
});

test('syntax errors name file and line', (t) => {
  t.regex(parseError('a\n{{ if .x }}\nb').message, /t\/bad\.yaml:2: .*has no \{\{end\}\}/);
  t.regex(parseError('a\n\n{{ end }}').message, /t\/bad\.yaml:3: unexpected \{\{end\}\}/);
  t.regex(parseError('{{ .a ) }}').message, /t\/bad\.yaml:1: unexpected right paren/);
  t.regex(parseError('x\n{{ "open }}').message, /t\/bad\.yaml:2: unterminated quoted string/);
  t.regex(parseError('{{ .a').message, /unclosed action/);
  t.regex(parseError('{{ break }}').message, /outside \{\{range\}\}/);
  t.regex(parseError('{{ if true }}{{ define "x" }}{{ end }}{{ end }}').message, /define inside a control structure/);
});

test('line numbers count newlines inside multi-line actions and comments', (t) => {
  t.regex(parseError('{{/*\n\n*/}}\n{{ nope }}').message, /t\/bad\.yaml:4:/);
});
