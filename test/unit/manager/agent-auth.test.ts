// Agents are who their token says (issue #11), and token reviews are cached and rate-limited
// (issue #12). The Kubernetes side is a fake: TokenReview answers, pods and workloads as values.
import test from 'ava';
import { serializeAgentConfig, type AgentConfig } from '../../../lib/common/agent-config.js';
import {
  AgentAuthenticator,
  TOKEN_REVIEW_BURST,
  tokenExpiry,
  type AgentAuthCluster,
  type PodFacts,
  type WorkloadFacts,
} from '../../../lib/manager/agent-auth.js';

const config = (ns: string, name: string, kind: AgentConfig['workload']['kind'] = 'Deployment'): string =>
  serializeAgentConfig({
    version: 1,
    workload: { kind, name, namespace: ns },
    container: 'echo',
    replace: false,
    ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900 }],
    manager: { host: 'traffic-manager.tp-system', port: 8082 },
  });

/** A cluster: namespace dev has deployment echo (agent config written) with its ReplicaSet and pod;
 * namespace other has an impostor pod of its own deployment. */
function cluster() {
  const reviews: string[] = [];
  const tokens = new Map<string, { username: string; pod: string; uid: string }>([
    ['tok-echo', { username: 'system:serviceaccount:dev:default', pod: 'echo-rs-1', uid: 'uid-echo' }],
    ['tok-impostor', { username: 'system:serviceaccount:other:default', pod: 'impostor', uid: 'uid-imp' }],
    ['tok-hand', { username: 'system:serviceaccount:dev:default', pod: 'handmade', uid: 'uid-hand' }],
    ['tok-bare', { username: 'system:serviceaccount:dev:default', pod: 'bare', uid: 'uid-bare' }],
  ]);
  const pods = new Map<string, PodFacts>([
    [
      'dev/echo-rs-1',
      {
        uid: 'uid-echo',
        namespace: 'dev',
        name: 'echo-rs-1',
        owners: [{ kind: 'ReplicaSet', name: 'echo-rs', controller: true }],
        agentConfig: config('dev', 'echo'),
      },
    ],
    // Claims a workload of another namespace, in an annotation it wrote itself.
    [
      'other/impostor',
      {
        uid: 'uid-imp',
        namespace: 'other',
        name: 'impostor',
        owners: [{ kind: 'ReplicaSet', name: 'mine-rs', controller: true }],
        agentConfig: config('dev', 'echo'),
      },
    ],
    // In the right namespace and owned by echo, but with a config echo does not carry.
    [
      'dev/handmade',
      {
        uid: 'uid-hand',
        namespace: 'dev',
        name: 'handmade',
        owners: [{ kind: 'ReplicaSet', name: 'echo-rs', controller: true }],
        agentConfig: config('dev', 'echo').replace('9900', '9999'),
      },
    ],
    // Owned by nothing engageable.
    ['dev/bare', { uid: 'uid-bare', namespace: 'dev', name: 'bare', owners: [], agentConfig: config('dev', 'echo') }],
  ]);
  const workloads = new Map<string, WorkloadFacts>([
    ['dev/ReplicaSet/echo-rs', { owners: [{ kind: 'Deployment', name: 'echo', controller: true }], agentConfig: config('dev', 'echo') }],
    ['dev/Deployment/echo', { owners: [], agentConfig: config('dev', 'echo') }],
    ['other/ReplicaSet/mine-rs', { owners: [{ kind: 'Deployment', name: 'mine', controller: true }] }],
    ['other/Deployment/mine', { owners: [] }],
  ]);
  const k: AgentAuthCluster = {
    async tokenReview(token) {
      reviews.push(token);
      const t = tokens.get(token);
      if (!t) return { authenticated: false, error: 'invalid bearer token' };
      return {
        authenticated: true,
        username: t.username,
        extra: { 'authentication.kubernetes.io/pod-name': [t.pod], 'authentication.kubernetes.io/pod-uid': [t.uid] },
      };
    },
    readPod: async (ns, name) => pods.get(`${ns}/${name}`),
    readWorkload: async (ns, kind, name) => workloads.get(`${ns}/${kind}/${name}`),
  };
  return { k, reviews, pods };
}

test("#11: a pod of the workload with the config the manager wrote is that workload's agent", async (t) => {
  const { k } = cluster();
  const who = await new AgentAuthenticator(k).authenticate('tok-echo', '10.0.0.5');
  t.deepEqual(who.workload, { kind: 'Deployment', name: 'echo', namespace: 'dev' });
  t.is(who.pod, 'echo-rs-1');
});

test("#11: an impostor pod with its own token claiming another namespace's workload is refused, saying why", async (t) => {
  const { k } = cluster();
  const e = await t.throwsAsync(new AgentAuthenticator(k).authenticate('tok-impostor', '10.0.0.9'));
  t.is((e as { status?: number }).status, 403);
  t.regex(e!.message, /claims to be an agent of deployment\/echo in namespace dev, but it belongs to deployment\/mine in other/);
});

test('#11: a pod annotated by hand (a config its workload does not carry) is refused', async (t) => {
  const { k } = cluster();
  const e = await t.throwsAsync(new AgentAuthenticator(k).authenticate('tok-hand', '10.0.0.9'));
  t.regex(e!.message, /runs an agent config that deployment\/echo does not carry/);
});

test('#11: a pod no workload owns, a token of no pod, a pod that is gone, and a bad token are refused', async (t) => {
  const { k, pods } = cluster();
  const a = new AgentAuthenticator(k);
  t.regex((await t.throwsAsync(a.authenticate('tok-bare', 'x')))!.message, /belongs to no Deployment, StatefulSet or ReplicaSet/);
  t.regex((await t.throwsAsync(a.authenticate('nope', 'x')))!.message, /invalid bearer token/);
  pods.set('dev/echo-rs-1', { ...pods.get('dev/echo-rs-1')!, uid: 'another-pod-same-name' });
  t.regex((await t.throwsAsync(a.authenticate('tok-echo', 'x')))!.message, /no longer exists/);
});

test('#12: a token is reviewed once and its answer reused until it expires', async (t) => {
  const { k, reviews } = cluster();
  const a = new AgentAuthenticator(k);
  await a.authenticate('tok-echo', 'p');
  await a.authenticate('tok-echo', 'p');
  await a.authenticate('tok-echo', 'q');
  t.deepEqual(reviews, ['tok-echo']);
  t.is(a.stats.cacheHits, 2);
});

test('#12: token reviews are rate-limited per peer: a flood of fresh tokens gets 429 after the burst', async (t) => {
  const { k, reviews } = cluster();
  let now = 0;
  const a = new AgentAuthenticator(k, () => now);
  const results = await Promise.allSettled(
    Array.from({ length: TOKEN_REVIEW_BURST + 10 }, (_, i) => a.authenticate(`flood-${i}`, '10.9.9.9')),
  );
  t.is(reviews.length, TOKEN_REVIEW_BURST, 'the API server saw only the burst');
  t.is(results.filter((r) => r.status === 'rejected' && (r.reason as { status?: number }).status === 429).length, 10);
  // Another peer is not held back, and the bucket refills with time.
  await t.throwsAsync(a.authenticate('flood-x', '10.1.1.1'), { message: /invalid bearer token/ });
  now += 1000;
  await t.throwsAsync(a.authenticate('flood-y', '10.9.9.9'), { message: /invalid bearer token/ });
});

test('tokenExpiry reads the exp claim without trusting anything else', (t) => {
  const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
  t.is(tokenExpiry(jwt({ exp: 1700000000 })), 1700000000 * 1000);
  t.is(tokenExpiry(jwt({})), undefined);
  t.is(tokenExpiry('garbage'), undefined);
  t.is(tokenExpiry('a.!!!.c'), undefined);
});
