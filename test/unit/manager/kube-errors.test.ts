import test from 'ava';
import { kubeError } from '../../../lib/manager/kube-errors.js';
import { TunnelCallError } from '../../../lib/proxy/tunnel/errors.js';

test("an API refusal becomes one sentence with the API server's message and a hint", (t) => {
  const body = JSON.stringify({
    kind: 'Status',
    message: 'pods is forbidden: User "x" cannot deletecollection resource "pods"',
    code: 403,
  });
  const e = kubeError({ code: 403, body }, 'engage bare in namespace ns') as TunnelCallError;
  t.true(e instanceof TunnelCallError);
  t.is(e.code, 'E_FORBIDDEN');
  t.is(
    e.message,
    'the traffic manager may not engage bare in namespace ns: pods is forbidden: User "x" cannot deletecollection resource "pods"',
  );
  t.regex(e.hint!, /tp helm upgrade/);
  t.is((kubeError({ code: 500, body: 'not json' }, 'x') as TunnelCallError).message, 'the Kubernetes API refused to x: not json');
});

test('errors that are not API refusals pass through', (t) => {
  const plain = new Error('boom');
  t.is(kubeError(plain, 'x'), plain);
  const own = new TunnelCallError('E_FORBIDDEN', 'mine', 400);
  t.is(kubeError(own, 'x'), own);
});
