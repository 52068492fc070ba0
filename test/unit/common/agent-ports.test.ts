// The ports of the agent config and tp-agent-init's config (lib/common/agent-ports.ts): the mode
// of each port (issue #16) as the validator, the serializer and the init config see it.
import test from 'ava';
import {
  agentConfigHash,
  initConfigOf,
  needsInitContainer,
  parseAgentConfig,
  serializeAgentConfig,
  type AgentConfig,
} from '../../../lib/common/agent-config.js';
import { checkPorts, isKubePortName, validateConfig } from '../../../lib/common/agent-ports.js';

const http = { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' };
const takenHttp = { ...http, mode: 'name', appName: 'tp-http' };
const errors = (r: ReturnType<typeof checkPorts>) => (r.ok ? [] : r.errors);

const CONFIG: AgentConfig = {
  version: 1,
  workload: { kind: 'Deployment', name: 'echo', namespace: 'team' },
  container: 'echo',
  replace: false,
  ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' }],
  manager: { host: 'traffic-manager.tp-system', port: 8082 },
};

test('#16: a port taken over by name keeps its mode and appName; "redirect" is the same as no mode', (t) => {
  t.deepEqual(checkPorts([takenHttp]), {
    ok: true,
    ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' }],
  });
  t.deepEqual(checkPorts([{ ...http, mode: 'redirect' }]), {
    ok: true,
    ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' }],
  });
});

test('#16: mode "name" needs TCP, a name and a valid appName other than every name of the config', (t) => {
  t.deepEqual(errors(checkPorts([{ ...takenHttp, mode: 'steal' }])), ['ports[0].mode must be "redirect" or "name", got "steal".']);
  t.deepEqual(errors(checkPorts([{ ...takenHttp, protocol: 'UDP' }])), [
    'ports[0] takes over its port by name, which tp does for TCP ports only.',
  ]);
  t.deepEqual(errors(checkPorts([{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, mode: 'name', appName: 'tp-x' }])), [
    'ports[0] takes over its port by name but has no "name".',
  ]);
  for (const bad of [undefined, 'TP-HTTP', '1234', 'tp--http', 'a-much-too-long-name', '-tp']) {
    t.regex(errors(checkPorts([{ ...takenHttp, appName: bad }]))[0]!, /^ports\[0\]\.appName must be the app port's new name/, String(bad));
  }
  t.deepEqual(errors(checkPorts([{ ...takenHttp, appName: 'http' }])), [
    'ports[0].appName must differ from its name "http": the name is the agent\'s now.',
  ]);
  t.deepEqual(errors(checkPorts([{ ...http, appName: 'tp-http' }])), [
    'ports[0].appName is only for a port taken over by name (mode "name").',
  ]);
  t.deepEqual(errors(checkPorts([takenHttp, { containerPort: 8081, protocol: 'TCP', agentPort: 9901, name: 'tp-http' }])), [
    'ports[0].appName "tp-http" is also the name of ports[1].',
  ]);
  t.deepEqual(
    errors(
      checkPorts([takenHttp, { containerPort: 8081, protocol: 'TCP', agentPort: 9901, name: 'web', mode: 'name', appName: 'tp-http' }]),
    ),
    ['ports[1].appName "tp-http" is already the appName of ports[0].'],
  );
});

test("#16: tp-agent-init's own config refuses a port taken over by name (it has nothing to redirect there)", (t) => {
  t.deepEqual(validateConfig({ version: 1, ports: [takenHttp] }), {
    ok: false,
    errors: ['ports[0] is taken over by name (mode "name"): tp-agent-init redirects only ports of mode "redirect".'],
  });
});

test('Kubernetes port names: at most 15 of [a-z0-9-], a letter, no hyphen at an end, no double hyphen (IANA_SVC_NAME)', (t) => {
  for (const ok of ['http', 'tp-http', 'h2c', 'a', 'tp-123456789012']) t.true(isKubePortName(ok), ok);
  for (const bad of ['', '8080', 'tp--http', '-http', 'http-', 'HTTP', 'tp-1234567890123', 'h_2']) t.false(isKubePortName(bad), bad);
});

test('#16: the config carries the mode through serialize and parse; a config without taken-over ports hashes as before modes existed', (t) => {
  const taken: AgentConfig = { ...CONFIG, ports: [{ ...CONFIG.ports[0]!, mode: 'name', appName: 'tp-http' }] };
  t.deepEqual(parseAgentConfig(serializeAgentConfig(taken)), taken);
  t.regex(serializeAgentConfig(taken), /"mode":"name","appName":"tp-http"/);
  // The JSON a manager without modes wrote: its hash must not change, or an upgrade would restart every engaged pod.
  t.false(serializeAgentConfig({ ...CONFIG, ports: [{ ...CONFIG.ports[0]!, mode: 'redirect' }] }).includes('mode'));
  t.is(agentConfigHash({ ...CONFIG, ports: [{ ...CONFIG.ports[0]!, mode: 'redirect' }] }), agentConfigHash(CONFIG));
  t.not(agentConfigHash(taken), agentConfigHash(CONFIG));
});

test('#16: tp-agent-init gets only the redirected ports, and a config with none needs no init container', (t) => {
  const mixed: AgentConfig = {
    ...CONFIG,
    ports: [
      { ...CONFIG.ports[0]!, mode: 'name', appName: 'tp-http' },
      { containerPort: 9090, protocol: 'TCP', agentPort: 9901, name: 'admin' },
    ],
  };
  t.deepEqual(initConfigOf(mixed), { version: 1, ports: [{ containerPort: 9090, protocol: 'TCP', agentPort: 9901, name: 'admin' }] });
  t.true(validateConfig(initConfigOf(mixed)).ok);
  t.true(needsInitContainer(mixed));
  t.false(needsInitContainer({ ...CONFIG, ports: [mixed.ports[0]!] }));
  t.false(needsInitContainer({ ...CONFIG, ports: [] }), 'no port, no chain: no init container either');
});
