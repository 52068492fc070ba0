// The manager's client API for DNS, namespaces and workload lists (issue #16), in-process: the
// real createManagerApi and tunnel over an in-memory pair, the cluster faked — a Session per user,
// a fake Authorizer (SubjectAccessReview) and a fake cluster DNS (fake-cluster-dns.ts).
import test from 'ava';
import { EventEmitter } from 'node:events';
import { createLogger } from '../../../lib/common/log.js';
import { newSessionSecret, type Owner, type SessionObject } from '../../../lib/common/objects.js';
import type { ClusterInfo, ManagerApi, Workload } from '../../../lib/common/rpc/manager.js';
import { createManagerApi, type Authorizer } from '../../../lib/manager/api.js';
import type { ClusterInfoSource } from '../../../lib/manager/cluster-info.js';
import { ClusterResolver } from '../../../lib/manager/dns.js';
import { EngagementController, type EngagementCluster } from '../../../lib/manager/engagement-controller.js';
import { AgentRegistry } from '../../../lib/manager/agents.js';
import { SessionStore } from '../../../lib/manager/sessions.js';
import { DirectDialer } from '../../../lib/proxy/direct-dialer.js';
import { duplexPair } from '../../helpers/duplex-pair.js';
import { TunnelClient } from '../../../lib/proxy/tunnel/client.js';
import { TP_VERSION } from '../../../lib/common/version.js';
import { fakeClusterDns } from './fake-cluster-dns.js';

const log = createLogger({ level: 'error', fields: {} });

/** Who may do what: alice may get services and list deployments in a only; carol everywhere. */
const RIGHTS: Record<string, (verb: string, resource: string, ns: string) => boolean> = {
  alice: (_v, _r, ns) => ns === 'a',
  carol: () => true,
};

interface Harness {
  client(user: 'alice' | 'carol', hello?: { mappedNamespaces?: string[] }): Promise<TunnelClient<ManagerApi>>;
  reviews: string[];
  asked: string[];
}

async function harness(t: import('ava').ExecutionContext): Promise<Harness> {
  const reviews: string[] = [];
  const authorizer: Authorizer = {
    async can(owner, c) {
      reviews.push(`${owner.username} ${c.verb} ${c.resource} ${c.namespace || '*'}`);
      const ns = c.namespace;
      return ns === '' ? owner.username === 'carol' : (RIGHTS[owner.username]?.(c.verb, c.resource, ns) ?? false);
    },
  };
  const sessions = new SessionStore({ read: async () => undefined, delete: async () => {}, writeLastSeen: async () => {} });
  const secrets = new Map<string, string>();
  for (const user of ['alice', 'carol']) {
    const { secret, hash } = newSessionSecret();
    const owner: Owner = { username: user, groups: ['system:authenticated'] };
    const obj: SessionObject = {
      apiVersion: 'tp.dev/v1',
      kind: 'Session',
      metadata: { name: `${user}-1`, namespace: 'tp-system', uid: `u-${user}` },
      spec: { owner, label: `${user}@laptop`, secretHash: hash, clientVersion: 't' },
    };
    sessions.upsert(obj);
    secrets.set(user, secret);
  }
  sessions.markSynced();
  const info: ClusterInfo = {
    serviceCIDRs: ['10.96.0.0/16'],
    podCIDRs: [],
    serviceCIDRSource: 't',
    podCIDRSource: 't',
    clusterDomain: 'cluster.local',
    managerNamespace: 'tp-system',
    managerVersion: 't',
  };
  const clusterInfo = Object.assign(new EventEmitter(), { current: info }) as unknown as ClusterInfoSource;
  const nothing = async () => {
    throw new Error('no cluster here');
  };
  const cluster = {
    findWorkload: nothing,
    writeAgentConfig: nothing,
    podsNeedRestart: nothing,
    restartPods: nothing,
    listPods: nothing,
    warningEvents: nothing,
    workloadsWithAgents: nothing,
    setStatus: nothing,
    deleteEngagement: nothing,
  } as unknown as EngagementCluster;
  const engagements = new EngagementController({
    cluster,
    sessions,
    agents: new AgentRegistry(),
    log,
    managerNamespace: 'tp-system',
    manager: { host: 'm', port: 1 },
  });
  t.teardown(() => engagements.stop());
  const dns = fakeClusterDns();
  const workloads = (ns: string): Workload[] => [
    {
      kind: 'Deployment',
      name: 'echo',
      namespace: ns,
      replicas: 1,
      readyReplicas: 1,
      containers: ['echo'],
      ports: [],
      state: 'ready to engage',
    },
  ];
  const api = createManagerApi({
    sessions,
    clusterInfo,
    resolver: new ClusterResolver('cluster.local', [], { exchange: dns.exchange }),
    direct: new DirectDialer(),
    engagements,
    authorizer,
    listWorkloads: async (ns) => workloads(ns),
    listNamespaces: async () => ['a', 'b', 'kube-system'],
    log,
  });
  t.teardown(() => api.close());
  return {
    reviews,
    asked: dns.asked,
    async client(user, hello = {}) {
      const [near, far] = duplexPair();
      api.accept(far);
      const c = await TunnelClient.connect<ManagerApi>({ socket: near, peer: 'client', pingIntervalMs: 0 });
      t.teardown(() => c.close());
      await c.call('hello', {
        session: `${user}-1`,
        secret: secrets.get(user)!,
        peer: 'client',
        namespace: 'a',
        version: TP_VERSION,
        ...hello,
      });
      return c;
    },
  };
}

test('#16: namespace-only rights: alice resolves names in a, names in b are NXDOMAIN (not an error) and b is never asked', async (t) => {
  const h = await harness(t);
  const alice = await h.client('alice');
  const a = await alice.call('dns', { name: 'echo.a', type: 'A' });
  t.deepEqual(a.addresses, ['10.96.0.20']);
  const srv = await alice.call('dns', { name: '_http._tcp.echo.a', type: 'SRV' });
  t.is(srv.records?.[0]?.type, 'SRV');
  const b = await alice.call('dns', { name: 'echo.b', type: 'A' });
  t.is(b.rcode, 'NXDOMAIN');
  t.is(b.soa?.type, 'SOA', "with the zone's SOA, like any NXDOMAIN");
  const ptr = await alice.call('dns', { name: '30.0.96.10.in-addr.arpa', type: 'PTR' });
  t.is(ptr.rcode, 'NXDOMAIN', "the PTR of b's Service IP names b: hidden");
  t.false(
    h.asked.some((q) => q.includes('.b.svc.')),
    h.asked.join(', '),
  );
  t.true(h.reviews.includes('alice get services b'), h.reviews.join(', '));
});

test("#16: the namespaces call lists what the owner may see, read with the manager's rights", async (t) => {
  const h = await harness(t);
  t.deepEqual(await (await h.client('alice')).call('namespaces', {}), { namespaces: ['a'] });
  t.deepEqual(await (await h.client('carol')).call('namespaces', {}), { namespaces: ['a', 'b', 'kube-system'] });
});

test('#16: mapped namespaces from the hello limit DNS, namespaces and workload lists, with a sentence for the rest', async (t) => {
  const h = await harness(t);
  const carol = await h.client('carol', { mappedNamespaces: ['a'] });
  t.deepEqual((await carol.call('dns', { name: 'echo.a', type: 'A' })).addresses, ['10.96.0.20'], '`svc.a` resolves');
  t.is((await carol.call('dns', { name: 'echo.b', type: 'A' })).rcode, 'NXDOMAIN', 'carol may see b, but b is not mapped');
  t.deepEqual(await carol.call('namespaces', {}), { namespaces: ['a'], mapped: ['a'] });
  t.is((await carol.call('listWorkloads', { namespace: 'a' })).workloads[0]?.namespace, 'a');
  const refused = await t.throwsAsync(carol.call('listWorkloads', { namespace: 'b' }));
  t.is((refused as { code?: string }).code, 'E_NOT_MAPPED');
  t.is(refused!.message, "namespace b is not one of this connection's mapped namespaces (a)");
  t.regex((refused as { hint?: string }).hint ?? '', /--mapped-namespaces a,b/);
});

test('#16: a later hello of the session without mapped namespaces lifts the limit (the user daemon reconnected with none)', async (t) => {
  const h = await harness(t);
  await h.client('carol', { mappedNamespaces: ['a'] });
  const again = await h.client('carol');
  t.is((await again.call('dns', { name: 'echo.b', type: 'A' })).rcode, 'NOERROR');
});

test('#16: alice may list workloads in a; in b the manager refuses with the role to ask for', async (t) => {
  const h = await harness(t);
  const alice = await h.client('alice');
  t.is((await alice.call('listWorkloads', { namespace: 'a' })).workloads.length, 1);
  const err = await t.throwsAsync(alice.call('listWorkloads', { namespace: 'b' }));
  t.is((err as { code?: string }).code, 'E_FORBIDDEN');
});

test('#16: validators: a DNS type by mnemonic or TYPEnnn, never a zone transfer; mapped namespaces must be names', async (t) => {
  const h = await harness(t);
  const alice = await h.client('alice');
  const txt = await alice.call('dns', { name: 'dns-version.cluster.local', type: 'TYPE16' });
  t.deepEqual(
    txt.records?.map((r) => r.type),
    ['TXT'],
  );
  const axfr = await t.throwsAsync(alice.call('dns', { name: 'cluster.local', type: 'AXFR' }));
  t.regex(axfr!.message, /type: must be a DNS query type/);
  const bad = await t.throwsAsync(h.client('carol', { mappedNamespaces: ['Not_A_Namespace'] }));
  t.regex(bad!.message, /is not a valid namespace name/);
});
