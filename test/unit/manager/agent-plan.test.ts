import test from 'ava';
import type { V1PodSpec } from '@kubernetes/client-node';
import { needsInitContainer } from '../../../lib/common/agent-config.js';
import { afterLeave, planAgentConfig, type PlanInput } from '../../../lib/manager/agent-plan.js';
import type { AgentConfigError } from '../../../lib/manager/agent-config.js';
import { appPortName, type ServiceView } from '../../../lib/manager/port-takeover.js';
import type { EngagementInfo } from '../../../lib/common/rpc/engagement.js';

const spec: V1PodSpec = {
  containers: [
    {
      name: 'echo',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'admin', containerPort: 9090 },
        { name: 'dns', containerPort: 53, protocol: 'UDP' },
      ],
    },
  ],
};
const base: PlanInput = {
  workload: { kind: 'Deployment', name: 'echo', namespace: 'default' },
  spec,
  current: undefined,
  kind: 'intercept',
  remotePorts: ['http'],
  others: [],
  manager: { host: 'traffic-manager.tp-system', port: 8082 },
};
const other = (o: Partial<EngagementInfo>): EngagementInfo => ({
  id: 'x',
  name: 'x',
  kind: 'intercept',
  owner: 'bob',
  client: 'bob@laptop',
  workload: base.workload,
  container: 'echo',
  ports: [],
  state: 'active',
  createdAt: '',
  ...o,
});

test('the first engagement redirects every declared TCP port, so later ones need no restart', (t) => {
  const p = planAgentConfig(base);
  t.is(p.container, 'echo');
  t.deepEqual(p.ports, [{ port: 8080, protocol: 'TCP', name: 'http' }]);
  t.deepEqual(
    p.config.ports.map((m) => [m.containerPort, m.agentPort]),
    [
      [8080, 9900],
      [9090, 9901],
    ],
    'UDP 53 is not redirected',
  );
  t.false(p.config.replace);
});

test('a later engagement keeps the agent ports already handed out (same config → no rollout)', (t) => {
  const first = planAgentConfig(base).config;
  const second = planAgentConfig({
    ...base,
    current: first,
    remotePorts: ['admin'],
    others: [other({ ports: [{ port: 8080, protocol: 'TCP' }] })],
  });
  t.deepEqual(second.config, first);
  t.deepEqual(second.ports, [{ port: 9090, protocol: 'TCP', name: 'admin' }]);
});

test('an undeclared port number is added with a fresh agent port', (t) => {
  const first = planAgentConfig(base).config;
  const p = planAgentConfig({ ...base, current: first, remotePorts: ['7000'] });
  t.deepEqual(
    p.config.ports.map((m) => [m.containerPort, m.agentPort]),
    [
      [8080, 9900],
      [9090, 9901],
      [7000, 9902],
    ],
  );
});

test('replace takes every TCP port and sets replace; afterLeave clears it once no replace is left', (t) => {
  const p = planAgentConfig({ ...base, kind: 'replace', remotePorts: [] });
  t.true(p.config.replace);
  t.deepEqual(
    p.ports.map((x) => x.port),
    [8080, 9090],
  );
  t.false(afterLeave(p.config, []).replace);
  t.true(afterLeave(p.config, [other({ kind: 'replace' })]).replace);
});

test('ingest takes no port but still plans an agent', (t) => {
  const p = planAgentConfig({ ...base, kind: 'ingest', remotePorts: [] });
  t.deepEqual(p.ports, []);
  t.is(p.config.ports.length, 2);
});

test('an intercept without --port on a multi-port container says which ports there are', (t) => {
  const e = t.throws(() => planAgentConfig({ ...base, remotePorts: [] }));
  t.regex(e!.message, /has 2 ports \(http \(8080\), admin \(9090\)\); say which to intercept/);
});

test('a UDP port cannot be intercepted', (t) => {
  t.throws(() => planAgentConfig({ ...base, remotePorts: ['dns'] }), { message: /is UDP; tp engages TCP ports only/ });
});

test('another container cannot take the agent while the current one is engaged', (t) => {
  const two: V1PodSpec = { containers: [...spec.containers, { name: 'side', ports: [{ containerPort: 7070 }] }] };
  const current = planAgentConfig({ ...base, spec: two, container: 'echo' }).config;
  const e = t.throws(() => planAgentConfig({ ...base, spec: two, current, container: 'side', remotePorts: ['7070'], others: [other({})] }));
  t.regex(e!.message, /serves container echo, which intercept x of bob \(bob@laptop\) still engages/);
  t.is(planAgentConfig({ ...base, spec: two, current, container: 'side', remotePorts: ['7070'], others: [] }).config.container, 'side');
});

// ---- #16: Pod Security and ports taken over by name -------------------------------------------

const svc = (name: string, targetPort: number | string | undefined, o: Partial<ServiceView> = {}): ServiceView => ({
  name,
  selector: { app: 'echo' },
  ports: [{ name: 'web', port: 80, ...(targetPort !== undefined ? { targetPort } : {}) }],
  ...o,
});
const restricted = (o: Partial<PlanInput> = {}): PlanInput => ({
  ...base,
  podSecurity: 'restricted',
  podLabels: { app: 'echo', tier: 'web' },
  services: [svc('echo', 'http')],
  ...o,
});

test('#16: where the namespace enforces restricted, a port a Service targets by name is taken over: renamed app port, no redirect, no init container', (t) => {
  const p = planAgentConfig(restricted());
  t.deepEqual(
    p.config.ports,
    [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' }],
    'admin (no Service) is left out: only the name reaches the agent there',
  );
  t.false(needsInitContainer(p.config));
  t.deepEqual(p.ports, [{ port: 8080, protocol: 'TCP', name: 'http' }]);
});

test('#16: baseline refuses NET_ADMIN too, and a label value Kubernetes cannot read is enforced as restricted', (t) => {
  for (const level of ['baseline', 'Restricted', 'latest'])
    t.is(planAgentConfig(restricted({ podSecurity: level })).config.ports[0]!.mode, 'name', level);
});

test('#16: outside such namespaces the port is redirected even when Services target it by name (the REDIRECT also catches pod-IP clients)', (t) => {
  for (const podSecurity of [undefined, 'privileged']) {
    const p = planAgentConfig(restricted({ podSecurity }));
    t.deepEqual(
      p.config.ports.map((m) => [m.containerPort, m.mode]),
      [
        [8080, undefined],
        [9090, undefined],
      ],
    );
    t.true(needsInitContainer(p.config));
  }
});

test('#16: a numeric targetPort in a restricted namespace is refused before anything is written, in one sentence with both ways out', (t) => {
  const e = t.throws(() =>
    planAgentConfig(restricted({ services: [svc('other', 'http', { selector: { app: 'other' } }), svc('echo', 8080)] })),
  );
  t.is(
    e!.message,
    'port 8080 of deployment/echo cannot be engaged: namespace default enforces Pod Security "restricted", which refuses the agent\'s init container (it redirects the port with NET_ADMIN), and Service echo targets it by number; ' +
      'make http the targetPort of Service echo so the agent can take the port over by name, or allow the init container by labelling namespace default pod-security.kubernetes.io/enforce=privileged (or exempting it from Pod Security admission)',
  );
  t.is(
    (e as AgentConfigError).hint,
    'kubectl -n default patch service echo --type=json -p \'[{"op":"replace","path":"/spec/ports/0/targetPort","value":"http"}]\', or kubectl label namespace default pod-security.kubernetes.io/enforce=privileged --overwrite',
  );
  t.false(/[.;:] [A-Z]/.test(e!.message) || /\.\s/.test(e!.message), 'one sentence');
});

test('#16: a port also targeted by number elsewhere, or by no Service, or without a name cannot be taken over (restricted)', (t) => {
  // A Service port without targetPort targets its own port number.
  const both = t.throws(() =>
    planAgentConfig(
      restricted({ services: [svc('echo', 'http'), { name: 'direct', selector: { app: 'echo' }, ports: [{ port: 8080 }] }] }),
    ),
  );
  t.regex(both!.message, /and Service direct targets it by number; make http the targetPort of Service direct so/);
  const none = t.throws(() =>
    planAgentConfig(
      restricted({
        services: [
          svc('echo', 'http', { selector: {} }),
          svc('udp', 'http', { ports: [{ port: 80, targetPort: 'http', protocol: 'UDP' }] }),
        ],
      }),
    ),
  );
  t.regex(
    none!.message,
    /and no Service targets it by its name http; make http the targetPort of a Service that selects the pods so the agent/,
  );
  t.regex(
    (none as AgentConfigError).hint!,
    /^kubectl label namespace default pod-security\.kubernetes\.io\/enforce=privileged --overwrite$/,
  );
  const unnamed = t.throws(() => planAgentConfig(restricted({ remotePorts: ['7000'] })));
  t.regex(
    unnamed!.message,
    /^port 7000 of deployment\/echo cannot be engaged: .* and the port has no name a Service could target; name the port in container echo and make that name the targetPort of a Service that selects the pods so/,
  );
});

test('#16: later engagements keep the taken-over ports as they are (same config: no rollout)', (t) => {
  const both: PlanInput = restricted({ services: [svc('echo', 'http'), svc('admin', 'admin')] });
  const first = planAgentConfig(both).config;
  t.deepEqual(
    first.ports.map((m) => [m.name, m.agentPort, m.appName]),
    [
      ['http', 9900, 'tp-http'],
      ['admin', 9901, 'tp-admin'],
    ],
  );
  const second = planAgentConfig({
    ...both,
    current: first,
    remotePorts: ['admin'],
    others: [other({ ports: [{ port: 8080, protocol: 'TCP' }] })],
  });
  t.deepEqual(second.config, first);
});

test("#16: the namespace's label decides: a taken-over config turns into redirects (agent ports kept) once restricted is lifted, and back", (t) => {
  const named = planAgentConfig(restricted()).config;
  const lifted = planAgentConfig({ ...restricted({ podSecurity: undefined }), current: named }).config;
  t.deepEqual(lifted.ports, [
    { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' },
    { containerPort: 9090, protocol: 'TCP', agentPort: 9901, name: 'admin' },
  ]);
  const again = planAgentConfig({ ...restricted(), current: lifted }).config;
  t.deepEqual(again.ports, named.ports, 'admin, which no Service names, is dropped where only names reach the agent');
});

test("#16: the app port's new name is unused in the pod and a valid port name of at most 15 characters", (t) => {
  const spec2: V1PodSpec = {
    containers: [
      {
        name: 'echo',
        ports: [
          { name: 'http', containerPort: 8080 },
          { name: 'abcdefghijk-lmn', containerPort: 8081 },
        ],
      },
      { name: 'side', ports: [{ name: 'tp-http', containerPort: 7070 }] },
    ],
  };
  const p = planAgentConfig(
    restricted({ spec: spec2, remotePorts: ['http'], services: [svc('echo', 'http'), svc('long', 'abcdefghijk-lmn')] }),
  );
  t.deepEqual(
    p.config.ports.map((m) => m.appName),
    ['tp1-http', 'tp-abcdefghijk'],
  );
  t.deepEqual(appPortName('http', new Set(['tp-http', 'tp1-http'])), 'tp2-http');
});

test('#16: ingest in a restricted namespace whose Services name no port plans an agent with no ports and no init container', (t) => {
  const p = planAgentConfig(restricted({ kind: 'ingest', remotePorts: [], services: [] }));
  t.deepEqual(p.config.ports, []);
  t.false(needsInitContainer(p.config));
});

test('#16: replace in a restricted namespace takes over every port; one that no Service names is refused, naming it', (t) => {
  const ok = planAgentConfig(restricted({ kind: 'replace', remotePorts: [], services: [svc('echo', 'http'), svc('admin', 'admin')] }));
  t.true(ok.config.replace);
  t.deepEqual(
    ok.config.ports.map((m) => m.mode),
    ['name', 'name'],
  );
  t.throws(() => planAgentConfig(restricted({ kind: 'replace', remotePorts: [] })), {
    message: /^port 9090 of deployment\/echo cannot be engaged: .* no Service targets it by its name admin;/,
  });
});
