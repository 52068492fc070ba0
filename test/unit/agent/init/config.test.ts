import test from 'ava';
import { parseConfig, validateConfig, type ValidationResult } from '../../../../lib/agent/init/config.js';

const http = { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' };

function errors(r: ValidationResult): string[] {
  return r.ok ? [] : r.errors;
}

test('a valid config comes back typed and copied; an absent name stays absent', (t) => {
  const raw = { version: 1, ports: [http, { containerPort: 5353, protocol: 'UDP', agentPort: 9901 }] };
  const r = validateConfig(raw);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(r.config, { version: 1, ports: [http, { containerPort: 5353, protocol: 'UDP', agentPort: 9901 }] });
  t.not(r.config.ports[0], raw.ports[0]);
  t.false('name' in r.config.ports[1]!);
});

test('an empty port list is valid (an ingest-only engagement: an empty chain)', (t) => {
  t.true(validateConfig({ version: 1, ports: [] }).ok);
});

test('a config of another version is refused with both versions named', (t) => {
  t.deepEqual(errors(validateConfig({ version: 2, ports: [] })), [
    'The agent config has version 2, but this tp-agent-init understands only version 1: the manager and the agent image differ.',
  ]);
  t.regex(errors(validateConfig({ ports: [] }))[0]!, /has version nothing/);
});

test('a non-object config or a non-array ports is one sentence', (t) => {
  t.deepEqual(errors(validateConfig([])), ['The agent config must be a JSON object, got an array.']);
  t.deepEqual(errors(validateConfig(null)), ['The agent config must be a JSON object, got null.']);
  t.deepEqual(errors(validateConfig({ version: 1, ports: 'http' })), ['The agent config field "ports" must be an array, got "http".']);
});

test('ports out of range or not integers are refused, naming the field', (t) => {
  for (const bad of [0, 65536, -1, 80.5, '80', null]) {
    t.deepEqual(errors(validateConfig({ version: 1, ports: [{ ...http, containerPort: bad }] })), [
      `ports[0].containerPort must be an integer from 1 to 65535, got ${JSON.stringify(bad)}.`,
    ]);
  }
  t.deepEqual(errors(validateConfig({ version: 1, ports: [{ ...http, agentPort: 70000 }] })), [
    'ports[0].agentPort must be an integer from 1 to 65535, got 70000.',
  ]);
  t.deepEqual(errors(validateConfig({ version: 1, ports: [{ containerPort: 1, protocol: 'TCP' }] })), [
    'ports[0].agentPort must be an integer from 1 to 65535, got nothing.',
  ]);
});

test('protocol must be Kubernetes spelling TCP or UDP; SCTP and lowercase are refused', (t) => {
  for (const p of ['tcp', 'SCTP', undefined]) {
    t.deepEqual(errors(validateConfig({ version: 1, ports: [{ ...http, protocol: p }] })), [
      `ports[0].protocol must be "TCP" or "UDP", got ${p === undefined ? 'nothing' : JSON.stringify(p)}.`,
    ]);
  }
});

test('a port name must be a Kubernetes port name', (t) => {
  for (const n of ['HTTP', 'a-very-long-port-name', '-x', '', 7]) {
    t.regex(errors(validateConfig({ version: 1, ports: [{ ...http, name: n }] }))[0]!, /^ports\[0\]\.name must be a Kubernetes port name/);
  }
});

test('unknown fields are refused (a typo must not silently drop a setting)', (t) => {
  t.deepEqual(errors(validateConfig({ version: 1, ports: [], extra: 1 })), ['The agent config has an unknown field "extra".']);
  t.deepEqual(errors(validateConfig({ version: 1, ports: [{ ...http, agentport: 1 }] })), ['ports[0] has an unknown field "agentport".']);
});

test('the same container port and protocol twice is refused; the same port for TCP and UDP is fine', (t) => {
  t.deepEqual(errors(validateConfig({ version: 1, ports: [http, { ...http, agentPort: 9901, name: 'http2' }] })), [
    'ports[1] repeats container port 8080/TCP of ports[0].',
  ]);
  t.true(
    validateConfig({
      version: 1,
      ports: [
        { containerPort: 53, protocol: 'TCP', agentPort: 9900 },
        { containerPort: 53, protocol: 'UDP', agentPort: 9900 },
      ],
    }).ok,
  );
});

test('one agent port for two mappings of the same protocol is refused', (t) => {
  t.deepEqual(errors(validateConfig({ version: 1, ports: [http, { containerPort: 8081, protocol: 'TCP', agentPort: 9900 }] })), [
    'ports[1].agentPort 9900/TCP is already the agent port of ports[0].',
  ]);
});

test('an agent port that is a container port of the config is refused, whatever the protocols', (t) => {
  t.deepEqual(errors(validateConfig({ version: 1, ports: [http, { containerPort: 9900, protocol: 'UDP', agentPort: 9901 }] })), [
    'ports[0].agentPort 9900 is also the container port of ports[1]: the agent cannot listen on a port the app uses.',
  ]);
  t.deepEqual(errors(validateConfig({ version: 1, ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 8080 }] })), [
    'ports[0].agentPort 8080 is also the container port of ports[0]: the agent cannot listen on a port the app uses.',
  ]);
});

test('every problem is reported, one sentence each, in entry order', (t) => {
  const e = errors(validateConfig({ version: 1, ports: [{ ...http, containerPort: 0 }, 'x', { ...http, protocol: 'udp' }] }));
  t.is(e.length, 3);
  t.true(e.every((s) => /^[^\n]+\.$/.test(s)));
  t.deepEqual(
    e.map((s) => s.slice(0, 8)),
    ['ports[0]', 'ports[1]', 'ports[2]'],
  );
});

test('parseConfig turns a JSON syntax error into a sentence', (t) => {
  const r = parseConfig('{"version":1,');
  t.false(r.ok);
  t.regex(errors(r)[0]!, /^The agent config is not valid JSON: .+\.$/);
  t.true(parseConfig(JSON.stringify({ version: 1, ports: [http] })).ok);
});
