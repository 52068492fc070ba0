import test from 'ava';
import type { V1PodSpec } from '@kubernetes/client-node';
import { AGENT_PORT_BASE, resolveEngagement } from '../../../lib/manager/agent-config.js';

const echo: V1PodSpec = {
  containers: [
    {
      name: 'echo',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9900 },
        { name: 'dns', containerPort: 5353, protocol: 'UDP' },
      ],
    },
  ],
};
const two: V1PodSpec = {
  containers: [
    { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] },
    { name: 'sidecar', ports: [{ name: 'admin', containerPort: 9000 }] },
  ],
};

test('a port by name maps to an agent port that no container of the pod uses', (t) => {
  const r = resolveEngagement('echo', echo, { remotePorts: ['http'] });
  t.is(r.container, 'echo');
  t.deepEqual(
    r.config.ports,
    [{ containerPort: 8080, protocol: 'TCP', agentPort: AGENT_PORT_BASE + 1, name: 'http' }],
    '9900 is the metrics port, so the agent takes 9901',
  );
});

test('no ports means every declared port of the container (replace), protocols kept', (t) => {
  const r = resolveEngagement('echo', echo, { remotePorts: [] });
  t.deepEqual(
    r.config.ports.map((p) => [p.containerPort, p.protocol, p.agentPort]),
    [
      [8080, 'TCP', 9901],
      [9900, 'TCP', 9902],
      [5353, 'UDP', 9903],
    ],
  );
});

test('a numeric port the container does not declare is still engaged (TCP)', (t) => {
  t.deepEqual(resolveEngagement('echo', echo, { remotePorts: ['7000'] }).config.ports, [
    { containerPort: 7000, protocol: 'TCP', agentPort: 9901 },
  ]);
});

test('the container is found from the port when the workload has several', (t) => {
  t.is(resolveEngagement('web', two, { remotePorts: ['admin'] }).container, 'sidecar');
  t.is(resolveEngagement('web', two, { remotePorts: ['8080'] }).container, 'app');
});

test('errors name what the workload does have and what to pass', (t) => {
  t.throws(() => resolveEngagement('echo', echo, { remotePorts: ['grpc'] }), {
    message: 'container echo of workload echo has no port named grpc; it has: http (8080), metrics (9900), dns (5353)',
  });
  t.throws(() => resolveEngagement('web', two, { container: 'nope', remotePorts: [] }), {
    message: 'workload web has no container named nope; it has: app, sidecar',
  });
  const e = t.throws(() => resolveEngagement('web', two, { remotePorts: ['7000'] }));
  t.regex(
    e!.message,
    /^workload web has 2 containers \(app: http \(8080\); sidecar: admin \(9000\)\) and the port 7000 does not single one out$/,
  );
  t.is((e as { hint?: string }).hint, 'pass --container NAME');
});

test('the same port asked twice is engaged once', (t) => {
  t.is(resolveEngagement('echo', echo, { remotePorts: ['http', '8080'] }).config.ports.length, 1);
});
