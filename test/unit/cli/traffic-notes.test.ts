// `tp list`'s note lines about engagements' traffic (issue #13): TLS that a filtered intercept
// cannot see, wiretap copies dropped; nothing when all is well.
import test from 'ava';
import { trafficNoteLines } from '../../../lib/cli/traffic-notes.js';
import { trafficNotes, type EngagementInfo, type TrafficCounts } from '../../../lib/common/rpc/engagement.js';
import type { Workload } from '../../../lib/common/rpc/manager.js';

const counts = (o: Partial<TrafficCounts> = {}): TrafficCounts => ({ tapCopies: 0, tapDropped: 0, tapAborted: 0, tlsConnections: 0, ...o });
const info = (o: Partial<EngagementInfo>): EngagementInfo => ({
  id: 'e1',
  name: 'echo',
  kind: 'intercept',
  owner: 'alice',
  client: 'alice@laptop',
  workload: { kind: 'Deployment', name: 'echo', namespace: 'dev' },
  container: 'echo',
  ports: [{ port: 8443, protocol: 'TCP' }],
  state: 'active',
  createdAt: '2026-01-01T00:00:00Z',
  ...o,
});
const workload = (engagements: EngagementInfo[]): Workload => ({
  kind: 'Deployment',
  name: 'echo',
  namespace: 'dev',
  replicas: 1,
  readyReplicas: 1,
  containers: ['echo'],
  ports: [],
  state: 'intercepted',
  engagements,
});

test('#13: a filtered intercept that saw TLS gets a note naming its port; one by the user says "you"', (t) => {
  const e = info({ name: 'echo-alice', filter: { headers: { 'x-dev': 'alice' } }, traffic: counts({ tlsConnections: 4 }) });
  t.deepEqual(trafficNoteLines([workload([e])], 'alice'), [
    'intercept echo-alice of echo (you): TLS seen: port 8443 carries TLS, so HTTP filters cannot match it; its connections go to the app (4 so far)',
  ]);
  t.regex(trafficNoteLines([workload([e])], 'bob')[0]!, /^intercept echo-alice of echo \(alice\): TLS seen/);
});

test('#13: TLS under an unfiltered intercept or a wiretap is no note (they take connections whole)', (t) => {
  t.deepEqual(trafficNotes(info({ traffic: counts({ tlsConnections: 4 }) })), []);
  t.deepEqual(trafficNotes(info({ kind: 'wiretap', filter: { headers: { a: 'b' } }, traffic: counts({ tlsConnections: 4 }) })), []);
  t.deepEqual(
    trafficNotes(info({ filter: { headers: {}, pathPrefix: '/api' }, traffic: counts({ tlsConnections: 1 }) })).length,
    1,
    'a path prefix is a filter too',
  );
});

test('#13: a wiretap that dropped copies says how many of how many; one that dropped none says nothing', (t) => {
  const tap = info({ name: 'tap', kind: 'wiretap', owner: 'bob', traffic: counts({ tapCopies: 96, tapDropped: 4, tapAborted: 1 }) });
  t.deepEqual(trafficNoteLines([workload([tap])], 'alice'), [
    "wiretap tap of echo (bob): wiretap: 4 of 100 copies dropped (the workstation fell behind; the app's traffic was not slowed), 1 cut short",
  ]);
  t.deepEqual(trafficNotes(info({ kind: 'wiretap', traffic: counts({ tapCopies: 100 }) })), []);
  t.deepEqual(trafficNoteLines([workload([info({})]), { ...workload([]), engagements: undefined }]), [], 'no counts reported: no lines');
});
