// A second user trying to take the first user's engagement over the manager's own protocol
// (issue #11), run inside a workstation namespace with that second user's kubeconfig:
//   node dist/test/e2e/engage/attacker.js '{"kubeconfig":…,"victimSession":…,"namespace":…,"engagement":…,"listenMs":…}'
// It prints one JSON line per probe ({probe, outcome}) and, last, how many 'dial' events (the
// victim's intercepted connections) reached it while it listened.
import * as k8s from '@kubernetes/client-node';
import { CLIENT_STREAMS, pairPath, sftpPath, type ManagerApi } from '../../../lib/common/rpc/manager.js';
import { SESSIONS, TP_GROUP, TP_VERSION_V1, type SessionObject } from '../../../lib/common/objects.js';
import { TunnelClient } from '../../../lib/proxy/tunnel/client.js';
import { createSession } from '../../../lib/user/identity.js';
import { loadKube } from '../../../lib/user/kube.js';
import { findManagerPod, openPortForward } from '../../../lib/user/manager-link.js';

interface Args {
  kubeconfig: string;
  managerNamespace: string;
  victimSession: string;
  namespace: string;
  engagement: string;
  listenMs: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const { kc } = loadKube({ kubeconfig: a.kubeconfig });
const report = (probe: string, outcome: string) => console.log(JSON.stringify({ probe, outcome }));
const outcomeOf = (err: unknown) => {
  // A refused dial names its failure as the wire carries it (a DialError's code is E_DIAL_<failure>).
  const e = err as { code?: string; failure?: string; message?: string };
  return `refused ${e.failure ?? e.code ?? ''}: ${e.message ?? String(err)}`;
};

async function connect(): Promise<TunnelClient<ManagerApi>> {
  const pod = await findManagerPod(kc, a.managerNamespace);
  return TunnelClient.connect<ManagerApi>({ socket: await openPortForward(kc, pod), connectTimeoutMs: 15_000 });
}

async function probe(name: string, f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
    report(name, 'ACCEPTED');
  } catch (err) {
    report(name, outcomeOf(err));
  }
}

const hello = (c: TunnelClient<ManagerApi>, session: string, secret: string) =>
  c.call('hello', { session, secret, peer: 'client', namespace: a.namespace, version: 'attacker' });

// 1. Before any hello, nothing is served.
const anon = await connect();
await probe('watch-before-hello', () => anon.watch('engagement', { namespace: a.namespace, name: a.engagement }, () => {}).done);
await probe('sftp-before-hello', () =>
  anon.openStream(CLIENT_STREAMS.sftp, sftpPath(a.namespace, a.engagement), AbortSignal.timeout(10_000)),
);
await probe('dial-before-hello', () => anon.dialTcp('10.96.0.1', 443, AbortSignal.timeout(10_000)));
// 2. The victim's session by name (resume), with a guessed secret, and with the hash the object shows.
await probe('hello-as-victim-guessed-secret', () => hello(anon, a.victimSession, 'x'.repeat(43)));
let hash = '';
try {
  const s = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: TP_GROUP,
    version: TP_VERSION_V1,
    namespace: a.managerNamespace,
    plural: SESSIONS.plural,
    name: a.victimSession,
  })) as SessionObject;
  hash = s.spec.secretHash;
  report('read-victim-session-object', `ACCEPTED (the object shows only ${hash.slice(0, 7)}…)`);
} catch (err) {
  report('read-victim-session-object', outcomeOf(err));
}
if (hash) await probe('hello-as-victim-with-hash', () => hello(anon, a.victimSession, hash));
await anon.close();

// 3. As itself (its own Session, its own credentials): every route to the victim's engagement.
const own = await createSession(kc, a.managerNamespace);
const me = await connect();
await hello(me, own.session, own.secret);
report('hello-as-self', 'ACCEPTED');
await probe('watch-victim-engagement', () => me.watch('engagement', { namespace: a.namespace, name: a.engagement }, () => {}).done);
await probe('sftp-victim-engagement', () =>
  me.openStream(CLIENT_STREAMS.sftp, sftpPath(a.namespace, a.engagement), AbortSignal.timeout(10_000)),
);
await probe('pair-guessed-token', () =>
  me.openStream(CLIENT_STREAMS.pair, pairPath('AAAAAAAAAAAAAAAAAAAAAAAA'), AbortSignal.timeout(10_000)),
);
let dials = 0;
const w = me.watch('sessionEvents', {}, (e) => {
  if (e.type === 'dial') dials++;
});
w.done.catch(() => {});
console.log(JSON.stringify({ listening: true }));
await new Promise((r) => setTimeout(r, a.listenMs));
console.log(JSON.stringify({ dials }));
w.cancel();
await me.call('depart', {}).catch(() => {});
await me.close();
process.exit(0);
