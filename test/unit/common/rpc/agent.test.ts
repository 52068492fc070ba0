// The agent API's request schemas (lib/common/rpc/agent.ts), issue #17.
import test from 'ava';
import { agentApi } from '../../../../lib/common/rpc/agent.js';

const hello = {
  token: 't'.repeat(900),
  podName: 'echo-7d9f-x',
  podIP: '10.0.0.7',
  configHash: 'sha256:ab',
  env: { HOME: '/root', EMPTY: '' },
  mounts: ['/var/run/secrets'],
  version: '0.1.0',
};

test("#17: agentHello: what an agent sends passes; env and mounts default to empty; a newer agent's extra field is dropped", (t) => {
  t.deepEqual(agentApi.calls.agentHello(hello), hello);
  const { env: _env, mounts: _mounts, ...bare } = hello;
  t.deepEqual(agentApi.calls.agentHello({ ...bare, podIP: '', configHash: '' }), {
    ...bare,
    podIP: '',
    configHash: '',
    env: {},
    mounts: [],
  });
  t.deepEqual(agentApi.calls.agentHello({ ...hello, zone: 'b' }), hello);
});

test('#17: agentHello: refusals name the field and its limit', (t) => {
  t.throws(() => agentApi.calls.agentHello({ ...hello, token: '' }), {
    message: 'token: must be a non-empty string of at most 8192 characters',
  });
  t.throws(() => agentApi.calls.agentHello({ ...hello, mounts: ['relative'] }), {
    message: 'mounts[0]: "relative" is not an absolute path',
  });
  t.throws(() => agentApi.calls.agentHello({ ...hello, mounts: Array(257).fill('/a') }), {
    message: 'mounts: must be a list of at most 256 absolute paths',
  });
  t.throws(() => agentApi.calls.agentHello({ ...hello, env: { A: 1 } }), { message: /^env\.A: must be a string/ });
  t.throws(() => agentApi.calls.agentHello({ ...hello, env: Object.fromEntries(Array.from({ length: 4097 }, (_, i) => [`V${i}`, ''])) }), {
    message: 'env: must be an object of at most 4096 entries',
  });
});

test('#17: agentApplied takes a non-negative integer revision; agentEvents no arguments', (t) => {
  t.deepEqual(agentApi.calls.agentApplied({ revision: 3 }), { revision: 3 });
  t.throws(() => agentApi.calls.agentApplied({ revision: -1 }), { message: 'revision: must be an integer of at least 0' });
  t.throws(() => agentApi.calls.agentApplied(null), { message: 'the request must be an object' });
  t.deepEqual(agentApi.watches.agentEvents(undefined), {});
  t.throws(() => agentApi.watches.agentEvents([]), { message: 'the request must be an object' });
});

const report = { id: '2f1c7a1e-0b7e-4c39-9d57-3f0a9d1e8b11', tapCopies: 12, tapDropped: 3, tapAborted: 0, tlsConnections: 1 };

test("#13: agentTraffic: a report passes; a newer agent's extra field is dropped; an empty list is a report", (t) => {
  t.deepEqual(agentApi.calls.agentTraffic({ traffic: [report] }), { traffic: [report] });
  t.deepEqual(agentApi.calls.agentTraffic({ traffic: [{ ...report, h3Streams: 4 }], at: 1 }), { traffic: [report] });
  t.deepEqual(agentApi.calls.agentTraffic({ traffic: [] }), { traffic: [] });
});

test('#13: agentTraffic: counts are non-negative safe integers, ids engagement ids, the list bounded', (t) => {
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, tapDropped: -1 }] }), {
    message: 'traffic[0].tapDropped: must be a non-negative integer',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, tlsConnections: 1.5 }] }), {
    message: 'traffic[0].tlsConnections: must be a non-negative integer',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, tapCopies: 2 ** 53 }] }), {
    message: 'traffic[0].tapCopies: must be a non-negative integer',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, tapCopies: '12' }] }), {
    message: 'traffic[0].tapCopies: must be a non-negative integer',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, tapAborted: undefined }] }), {
    message: 'traffic[0].tapAborted: must be a non-negative integer',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, id: '../x' }] }), {
    message: 'traffic[0].id: "../x" is not an engagement id',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: [{ ...report, id: 'a'.repeat(65) }] }), {
    message: 'traffic[0].id: must be an engagement id',
  });
  t.throws(() => agentApi.calls.agentTraffic({ traffic: Array(257).fill(report) }), {
    message: 'traffic: must be a list of at most 256 items',
  });
  t.throws(() => agentApi.calls.agentTraffic({}), { message: 'traffic: must be a list of at most 256 items' });
});
