import test from 'ava';
import { conflictOf, type EngagementInfo } from '../../../lib/common/rpc/engagement.js';

const e = (o: Partial<EngagementInfo>): EngagementInfo => ({
  id: 'a',
  name: 'echo',
  kind: 'intercept',
  owner: 'alice',
  client: 'alice@box',
  workload: { kind: 'Deployment', name: 'echo', namespace: 'default' },
  container: 'echo',
  ports: [{ port: 8080, protocol: 'TCP' }],
  state: 'active',
  createdAt: '',
  ...o,
});

test('one unfiltered intercept per port; the error names the other user', (t) => {
  t.is(conflictOf(e({}), e({})), 'port 8080 is already intercepted by intercept echo of alice (alice@box)');
  t.is(conflictOf(e({ ports: [{ port: 9090, protocol: 'TCP' }] }), e({})), undefined, 'other ports are free');
});

test('filtered intercepts coexist when their filters differ, and not when they are equal', (t) => {
  const a = e({ filter: { headers: { 'x-dev': 'alice' } } });
  const b = e({ filter: { headers: { 'X-Dev': 'bob' } } });
  t.is(conflictOf(a, b), undefined);
  t.regex(conflictOf(a, e({ filter: { headers: { 'X-DEV': 'alice' } } }))!, /same HTTP filter/, 'header names compare case-insensitively');
  t.regex(conflictOf(a, e({}))!, /already intercepted/, 'a filtered intercept cannot share a port with an unfiltered one');
});

test('wiretaps and ingests never conflict; replace owns its container', (t) => {
  t.is(conflictOf(e({ kind: 'wiretap' }), e({})), undefined);
  t.is(conflictOf(e({ kind: 'ingest', ports: [] }), e({ kind: 'replace' })), undefined);
  t.regex(conflictOf(e({ kind: 'replace' }), e({ ports: [{ port: 1, protocol: 'TCP' }] }))!, /container echo is already taken/);
  t.is(conflictOf(e({ kind: 'replace', container: 'other' }), e({})), undefined);
});
