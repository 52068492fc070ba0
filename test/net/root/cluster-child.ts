// The "cluster" and the "LAN" of the root-daemon crash tests, run inside the test's namespace
// (Netns.node(url, [JSON config])):
//   - a traffic manager's client API (the tunnel server of lib/proxy with hello, heartbeat,
//     clusterInfo, dns) on a unix socket that stands in for the user daemon's relay, dialing
//     the cluster subnet on the namespace's loopback (where servers-child.ts listens);
//   - the workstation's nameserver: A queries to `nameserver`:53 (UDP) answered with
//     `upstreamAnswer`, whatever the name — so a lookup tells which server answered it;
//   - the cluster's DNS (issue #16): a server on the namespace's loopback answering from a zone
//     (`names` as A records, an SRV, a TXT, a PTR per name, the zone's SOA on negative answers),
//     asked by the manager's real ClusterResolver, so the root daemon's lookups of every type take
//     the whole path: dig → TP-DNS redirect → tp's DNS server → relay → tunnel → manager → UDP.
// Sends { ready: true } once both listen; exits when the parent disconnects. Without its argument
// (a test runner loading every file of the directory) it does nothing.
import dgram from 'node:dgram';
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { managerApi, type ClusterInfo, type ManagerApi } from '../../../lib/common/rpc/manager.js';
import { DialError, type Dialer, type UdpFlow } from '../../../lib/proxy/dialer.js';
import { DirectDialer } from '../../../lib/proxy/direct-dialer.js';
import { TunnelServer } from '../../../lib/proxy/tunnel/server.js';
import { TUNNEL_PROTOCOL_VERSION } from '../../../lib/proxy/tunnel/protocol.js';
import { ClusterResolver } from '../../../lib/manager/dns.js';
import { reverseNameOf } from '../../../lib/root/dns/reverse.js';
import { CLUSTER_SOA, clusterDnsAnswer, type ZoneRecord } from '../../unit/manager/fake-cluster-dns.js';
import { fakeUpstream } from '../../unit/root/dns/fake-upstream.js';

export interface ClusterChildConfig {
  relaySocket: string;
  /** Destinations starting with this are dialed on 127.0.0.1, same port. */
  mapPrefix: string;
  nameserver: string;
  /** name → address answered through the manager's DNS. */
  names: Record<string, string>;
  /** What the nameserver answers for every A query. */
  upstreamAnswer: string;
  /** UDP ports whose dials the manager refuses (as a closed port in the cluster would be
   * reported): the stack answers with ICMP port unreachable. */
  refuseUdpPorts?: number[];
}

const arg = process.argv[2];
const cfg = (arg ? JSON.parse(arg) : {}) as ClusterChildConfig;

class LoopbackDialer implements Dialer {
  readonly #direct = new DirectDialer({ connectTimeoutMs: 5000, udpIdleMs: 10_000 });
  #target(host: string): string {
    if (!host.startsWith(cfg.mapPrefix)) throw new DialError('unreachable', `${host} is outside the test's cluster`);
    return '127.0.0.1';
  }
  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    try {
      return this.#direct.dialTcp(this.#target(host), port, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    try {
      if (cfg.refuseUdpPorts?.includes(port)) throw new DialError('refused', `udp ${host}:${port} refused`);
      return this.#direct.dialUdp(this.#target(host), port, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

const info: ClusterInfo = {
  serviceCIDRs: ['10.100.0.0/24'],
  podCIDRs: [],
  serviceCIDRSource: 'test',
  podCIDRSource: 'test',
  clusterDomain: 'cluster.local',
  managerNamespace: 'tp-system',
  managerVersion: 'test',
};

/** The cluster's DNS zone: every `names` entry with its A record, an SRV port and a PTR; CoreDNS's
 * TXT; the zone's SOA (TTL 30, minimum 30: what negative answers carry). */
function zone(): ZoneRecord[] {
  const out: ZoneRecord[] = [
    { name: 'cluster.local', type: 'SOA', data: { ...CLUSTER_SOA, minimum: 30 }, ttl: 30 },
    { name: 'dns-version.cluster.local', type: 'TXT', data: { strings: ['1.1.0'] } },
  ];
  for (const [name, address] of Object.entries(cfg.names ?? {})) {
    out.push({ name, type: 'A', data: { address } });
    out.push({ name: `_http._tcp.${name}`, type: 'SRV', data: { priority: 0, weight: 100, port: 8080, target: name } });
    out.push({ name: reverseNameOf(address), type: 'PTR', data: { target: name } });
  }
  return out;
}

let resolver: ClusterResolver | undefined;

// The manager's API as the root daemon uses it; any session secret is accepted here.
const api = new TunnelServer<ManagerApi, string>({ api: managerApi, dialer: new LoopbackDialer() })
  .handle('hello', (req, ctx) => {
    ctx.conn.auth = req.session;
    return { heartbeatIntervalMs: 1000, owner: 'test-user' };
  })
  .handle('heartbeat', () => ({}))
  .handle('depart', () => ({}))
  .handle('managerVersion', () => ({ version: 'test', protocol: TUNNEL_PROTOCOL_VERSION }))
  .handle('clusterInfo', () => info)
  .handle('dns', (req) => resolver!.query(req.name, req.type, { namespace: 'default', allows: async () => true }))
  .watch('clusterInfo', async (_req, emit, ctx) => {
    if (!emit(info)) return;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  });

/** The end of the question section (RFC 1035 §4.1.2: labels, then QTYPE and QCLASS). */
function questionEnd(q: Buffer): number {
  let off = 12;
  while (off < q.length && q[off] !== 0) off += q[off]! + 1;
  return off + 5;
}

/** A reply with one A record for the (first) question, whatever it asked (RFC 1035 §4.1). */
function answer(q: Buffer): Buffer | undefined {
  if (q.length < 17 || q.readUInt16BE(4) !== 1) return undefined;
  const end = questionEnd(q);
  if (end > q.length) return undefined;
  const isA = q.readUInt16BE(end - 4) === 1;
  const header = Buffer.alloc(12);
  q.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180, 2); // QR, RD, RA, NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(isA ? 1 : 0, 6);
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, ...cfg.upstreamAnswer.split('.').map(Number)]);
  return Buffer.concat([header, q.subarray(12, end), ...(isA ? [rr] : [])]);
}

async function main(): Promise<void> {
  rmSync(cfg.relaySocket, { force: true });
  const clusterDns = await fakeUpstream('127.0.0.1', (raw) => clusterDnsAnswer(zone(), raw));
  resolver = new ClusterResolver('cluster.local', [`127.0.0.1:${clusterDns.port}`]);
  const relay = createServer((s) => api.accept(s));
  await new Promise<void>((resolve, reject) => relay.once('error', reject).listen(cfg.relaySocket, resolve));
  const ns = dgram.createSocket('udp4');
  ns.on('message', (m, r) => {
    const a = answer(m);
    if (a) ns.send(a, r.port, r.address);
  });
  await new Promise<void>((resolve) => ns.bind(53, cfg.nameserver, resolve));
  process.send!({ ready: true });
  process.on('disconnect', () => process.exit(0));
}

if (arg) await main();
