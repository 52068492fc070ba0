import test from 'ava';
import type { V1PodSpec } from '@kubernetes/client-node';
import { afterLeave, planAgentConfig, type PlanInput } from '../../../lib/manager/agent-plan.js';
import type { EngagementInfo } from '../../../lib/common/rpc/engagement.js';

const spec: V1PodSpec = { containers: [{ name: 'echo', ports: [{ name: 'http', containerPort: 8080 }, { name: 'admin', containerPort: 9090 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }] };
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
  id: 'x', name: 'x', kind: 'intercept', owner: 'bob', client: 'bob@laptop', workload: base.workload, container: 'echo', ports: [], state: 'active', createdAt: '', ...o,
});

test('the first engagement redirects every declared TCP port, so later ones need no restart', (t) => {
  const p = planAgentConfig(base);
  t.is(p.container, 'echo');
  t.deepEqual(p.ports, [{ port: 8080, protocol: 'TCP', name: 'http' }]);
  t.deepEqual(p.config.ports.map((m) => [m.containerPort, m.agentPort]), [[8080, 9900], [9090, 9901]], 'UDP 53 is not redirected');
  t.false(p.config.replace);
});

test('a later engagement keeps the agent ports already handed out (same config → no rollout)', (t) => {
  const first = planAgentConfig(base).config;
  const second = planAgentConfig({ ...base, current: first, remotePorts: ['admin'], others: [other({ ports: [{ port: 8080, protocol: 'TCP' }] })] });
  t.deepEqual(second.config, first);
  t.deepEqual(second.ports, [{ port: 9090, protocol: 'TCP', name: 'admin' }]);
});

test('an undeclared port number is added with a fresh agent port', (t) => {
  const first = planAgentConfig(base).config;
  const p = planAgentConfig({ ...base, current: first, remotePorts: ['7000'] });
  t.deepEqual(p.config.ports.map((m) => [m.containerPort, m.agentPort]), [[8080, 9900], [9090, 9901], [7000, 9902]]);
});

test('replace takes every TCP port and sets replace; afterLeave clears it once no replace is left', (t) => {
  const p = planAgentConfig({ ...base, kind: 'replace', remotePorts: [] });
  t.true(p.config.replace);
  t.deepEqual(p.ports.map((x) => x.port), [8080, 9090]);
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
