// The root daemon's DNS server (VIF mode): cluster names are answered from the traffic manager's
// lookup, everything else is relayed to the workstation's original resolver (DESIGN.md §5).
//
// What a cluster name gets (issue #16): whatever the cluster's DNS says, for every type (A, AAAA,
// SRV, TXT, PTR, CNAME, MX, …), as the manager resolved it in the client's namespace:
//   - answers re-owned to the name that was asked (the search list may have found `echo.default`
//     as `echo.default.svc.cluster.local`), a CNAME chain's further records under their own names,
//     TTLs capped (ttlCap, 5 s) so Service changes show up quickly;
//   - NXDOMAIN and NODATA with the zone's SOA in the authority section, its TTL as the cluster
//     gave it, so resolvers cache the negative answer as they would from cluster DNS (RFC 2308);
//     NXDOMAIN is final — a single-label or namespace name the cluster does not know is not
//     retried upstream, as in Telepresence: leaking `db` to the office resolver could answer with
//     a different host of that name;
//   - class ≠ IN and meta-types (AXFR, IXFR, OPT, …): REFUSED.
// Reverse names (`dig -x`) of addresses in the cluster's subnets go to the cluster too (rules.ts);
// a VNAT address is asked by its real one (realAddress). Other reverse names go upstream.
//
// Budgets (#12, values and reasons in lib/common/limits.ts). Anyone who can send a packet to the
// server (every local process, and peers on the TUN's network) can try to stall it, so:
//   - a query's header is judged before its body: over the client's query budget (a token bucket
//     per address) → REFUSED; qdcount other than 1 (RFC 9619) or more records than a query
//     carries → FORMERR, without decoding a byte of the sections (one 64 KiB packet of 10,878
//     questions used to cost ~0.2 s of decoding);
//   - TCP: connections per client address capped; at the global cap the connection idle longest
//     is closed to let a new one in (RFC 7766 §6.2.3), so idle peers never lock others out; idle
//     connections close after seconds, and a message whose length has arrived must complete soon.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../../common/log.js';
import {
  DNS_CLIENTS_TRACKED,
  DNS_MAX_IN_FLIGHT,
  DNS_MAX_QUERY_RECORDS,
  DNS_QUERY_BURST,
  DNS_QUERY_RATE,
  DNS_TCP_IDLE_MS,
  DNS_TCP_MAX_CONNECTIONS,
  DNS_TCP_MAX_PER_CLIENT,
  DNS_TCP_MESSAGE_MS,
  DNS_TCP_PIPELINE,
} from '../../common/limits.js';
import { QueryBudget } from './budget.js';
import { ClusterAnswers, type ClusterLookup } from './cluster.js';
import {
  CLASS_IN,
  HEADER_LEN,
  RCODE,
  TYPE,
  buildReply,
  opcodeOf,
  questionSectionEnd,
  tryParse,
  typeName,
  type AnswerRecord,
  type EdnsOut,
} from './message.js';
import { addressOfReverseName, reverseNameOf } from './reverse.js';
import { compileRules, normalizeName, route, type CompiledRules, type RouteConfig } from './rules.js';
import { Forwarder, parseUpstream, type UpstreamSource } from './upstream.js';

export type { ClusterLookup } from './cluster.js';

export interface ListenAddress {
  host: string;
  /** 0: an ephemeral port, the same for UDP and TCP; addresses() tells which. */
  port: number;
}

export interface DnsServerOptions {
  listen: ListenAddress | ListenAddress[];
  lookup: ClusterLookup;
  /** The original nameservers, `ip[:port]` or `[ipv6]:port`, tried in order. */
  upstreams: string[];
  clusterDomain?: string;
  namespaces?: string[];
  include?: string[];
  exclude?: string[];
  /** The workstation's own search domains; names below them are never sent to the cluster. */
  hostSearch?: string[];
  /** Subnets whose reverse names (PTR) the cluster answers, as the workstation addresses them,
   * and the --never-proxy holes in them (rules.ts). */
  reverse?: { subnets: string[]; except: string[] };
  /** VNAT: the cluster's address behind a workstation address (Vnat.toReal); a reverse name of a
   * virtual address is asked as the real one's. */
  realAddress?: (ip: string) => string;
  /** Upper bound of the TTL of cluster answers, seconds (default 5). */
  ttlCap?: number;
  /** Per query, across all upstreams (default 2000). */
  upstreamTimeoutMs?: number;
  /** Where forwarded queries come from (address and/or port range), so the DNS redirect can
   * exempt them (see dns-redirect.ts). */
  upstreamSource?: UpstreamSource;
  /** Per cluster lookup (default 2000). */
  lookupTimeoutMs?: number;
  /** How long an NXDOMAIN from the cluster is remembered (default 2000). */
  negativeTtlMs?: number;
  /** Queries being answered at once, UDP and TCP together; more are dropped (DNS_MAX_IN_FLIGHT). */
  maxInFlight?: number;
  /** Query budget per client address: queries a second sustained, and the burst (DNS_QUERY_*). */
  queryRate?: number;
  queryBurst?: number;
  /** TCP connections at once, and from one client address (DNS_TCP_MAX_*). */
  maxTcpConnections?: number;
  maxTcpPerClient?: number;
  /** An idle TCP connection is closed after this (DNS_TCP_IDLE_MS). */
  tcpIdleMs?: number;
  /** A TCP message whose length prefix arrived must be complete within this (DNS_TCP_MESSAGE_MS). */
  tcpMessageMs?: number;
  log?: Logger;
}

export interface DnsCounters {
  queries: number;
  udp: number;
  tcp: number;
  cluster: number;
  upstream: number;
  nxdomain: number;
  servfail: number;
  formerr: number;
  /** Not answered at all: responses sent to us, packets too short for a header, over the cap. */
  dropped: number;
  /** REFUSED because the client's query budget was spent. */
  refused: number;
  /** TCP connections refused (client over its cap, or every connection busy) and closed to make room. */
  tcpRefused: number;
  tcpEvicted: number;
}

interface TcpConn {
  sock: Socket;
  client: string;
  /** Answers not sent yet: a connection with none is idle and may be closed to make room. */
  pending: number;
  lastActive: number;
}

/** The UDP size we advertise in our own OPT records (the DNS flag day 2020 value). */
const OUR_UDP_SIZE = 1232;

export class DnsServer {
  readonly counters: DnsCounters = {
    queries: 0,
    udp: 0,
    tcp: 0,
    cluster: 0,
    upstream: 0,
    nxdomain: 0,
    servfail: 0,
    formerr: 0,
    dropped: 0,
    refused: 0,
    tcpRefused: 0,
    tcpEvicted: 0,
  };
  readonly #opts: DnsServerOptions;
  readonly #log: Logger;
  readonly #answers: ClusterAnswers;
  readonly #forwarder: Forwarder;
  #rules: CompiledRules;
  #ruleConfig: RouteConfig;
  #udp: UdpSocket[] = [];
  #tcp: Server[] = [];
  readonly #conns = new Set<TcpConn>();
  readonly #budget: QueryBudget;
  #bound: ListenAddress[] = [];
  #inFlight = 0;

  constructor(opts: DnsServerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? silentLogger;
    this.#ruleConfig = {
      clusterDomain: opts.clusterDomain ?? 'cluster.local',
      namespaces: opts.namespaces ?? [],
      include: opts.include ?? [],
      exclude: opts.exclude ?? [],
      hostSearch: opts.hostSearch ?? [],
      ...(opts.reverse ? { reverse: opts.reverse } : {}),
    };
    this.#rules = compileRules(this.#ruleConfig);
    this.#answers = new ClusterAnswers(opts.lookup, {
      lookupTimeoutMs: opts.lookupTimeoutMs ?? 2000,
      negativeTtlMs: opts.negativeTtlMs ?? 2000,
    });
    this.#forwarder = new Forwarder(opts.upstreams.map(parseUpstream), opts.upstreamTimeoutMs ?? 2000, opts.upstreamSource);
    this.#budget = new QueryBudget(opts.queryRate ?? DNS_QUERY_RATE, opts.queryBurst ?? DNS_QUERY_BURST, DNS_CLIENTS_TRACKED);
  }

  /** Cache, de-duplication and forwarding counters, for `tp status` and tests. */
  get stats() {
    return { ...this.counters, ...this.#answers.stats, ...this.#forwarder.stats };
  }

  /** Where the server listens (ports resolved after start()). */
  addresses(): ListenAddress[] {
    return [...this.#bound];
  }

  setNamespaces(namespaces: string[]): void {
    this.configure({ namespaces });
  }

  /** Changes the routing rules; cached negatives are dropped since a name may now mean another. */
  configure(change: Partial<RouteConfig>): void {
    this.#ruleConfig = { ...this.#ruleConfig, ...change };
    this.#rules = compileRules(this.#ruleConfig);
    this.#answers.clear();
  }

  async start(): Promise<ListenAddress[]> {
    const list = Array.isArray(this.#opts.listen) ? this.#opts.listen : [this.#opts.listen];
    try {
      for (const l of list) this.#bound.push(await this.#listen(l));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#log.info('dns server listening', { addresses: this.#bound.map((a) => `${a.host}:${a.port}`), upstreams: this.#opts.upstreams });
    return this.addresses();
  }

  /** Final: lookups in flight end with SERVFAIL and the server cannot be started again. */
  async stop(): Promise<void> {
    this.#answers.close();
    for (const c of this.#conns) c.sock.destroy();
    this.#conns.clear();
    await Promise.all([
      ...this.#udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ...this.#tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
    ]);
    this.#udp = [];
    this.#tcp = [];
    this.#bound = [];
  }

  /**
   * The answer to one message, or undefined to stay silent. Transport-independent: UDP and TCP
   * listeners and unit tests all come through here. `client` (the sender's address) is charged
   * against its query budget; without it nothing is.
   */
  async handle(raw: Buffer, transport: 'udp' | 'tcp', client?: string): Promise<Buffer | undefined> {
    this.counters.queries++;
    // Too short to carry an ID, or a response: answering would let two servers ping-pong.
    if (raw.length < HEADER_LEN || (raw[2]! & 0x80) !== 0) {
      this.counters.dropped++;
      return undefined;
    }
    if (this.#forwarder.isOwn(raw)) {
      this.counters.dropped++;
      return undefined;
    }
    // Everything up to the parse reads the header only: what is refused here costs nothing more.
    if (client !== undefined && !this.#budget.take(client)) {
      this.counters.refused++;
      return buildReply(raw, undefined, { rcode: RCODE.REFUSED });
    }
    // RFC 9619: exactly one question; zero or several is a format error — decided on the count,
    // before any question is decoded. A query carries at most an OPT and a signature besides.
    const records = raw.readUInt16BE(6) + raw.readUInt16BE(8) + raw.readUInt16BE(10);
    if (raw.readUInt16BE(4) !== 1 || records > DNS_MAX_QUERY_RECORDS) {
      this.counters.formerr++;
      return buildReply(raw, undefined, { rcode: RCODE.FORMERR });
    }
    const msg = tryParse(raw);
    if (msg instanceof Error) {
      this.counters.formerr++;
      return buildReply(raw, undefined, { rcode: RCODE.FORMERR });
    }
    const qEnd = questionSectionEnd(raw);
    const edns: EdnsOut | undefined = msg.edns ? { udpSize: OUR_UDP_SIZE } : undefined;
    // RFC 6891 §6.2.5: the largest UDP answer is what the asker announced, but never below 512.
    const maxSize = transport === 'tcp' ? 0xffff : Math.max(512, Math.min(msg.edns?.udpSize ?? 512, 4096));
    const reply = (rcode: number, answers: AnswerRecord[] = [], authorities: AnswerRecord[] = []) => {
      if (rcode === RCODE.NXDOMAIN) this.counters.nxdomain++;
      if (rcode === RCODE.SERVFAIL) this.counters.servfail++;
      return buildReply(raw, qEnd, { rcode, answers, authorities, edns, maxSize });
    };
    if (opcodeOf(msg) !== 0) return reply(RCODE.NOTIMP);
    if (msg.edns && msg.edns.version > 0) return reply(RCODE.BADVERS); // RFC 6891 §6.1.3
    const q = msg.questions[0]!;

    const where = route(q.name, this.#rules);
    if (this.#log.level === 'trace')
      this.#log.trace('dns query', { name: q.name, type: q.type, transport, route: where.route, reason: where.reason });
    if (where.route === 'upstream') {
      this.counters.upstream++;
      const answer = await this.#forwarder.forward(raw, maxSize);
      return answer ?? reply(RCODE.SERVFAIL);
    }

    this.counters.cluster++;
    if (q.cls !== CLASS_IN) return reply(RCODE.REFUSED);
    const name = normalizeName(q.name);
    // Kubernetes names are LDH (plus `_` in SRV-style labels); anything else cannot exist there,
    // and the manager's validator would refuse it — say so without the round trip.
    if (!/^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/.test(name)) return reply(RCODE.NXDOMAIN);
    // Meta-types and zone transfers (RFC 6895 §3.1) are nobody's business through a stub resolver.
    if (q.type === TYPE.OPT || (q.type >= 249 && q.type <= 254)) return reply(RCODE.REFUSED);
    let asked = name;
    if (where.reason === 'reverse' && this.#opts.realAddress) {
      // VNAT: the workstation knows the pod by its virtual address, the cluster by its real one.
      const ip = addressOfReverseName(name)!;
      const real = this.#opts.realAddress(ip);
      if (real !== ip) asked = reverseNameOf(real);
    }
    const r = await this.#answers.resolve(asked, typeName(q.type));
    if (r.rcode === 'SERVFAIL') return reply(RCODE.SERVFAIL);
    const cap = this.#opts.ttlCap ?? 5;
    const answers = r.answers.map((a) => ({ ...a, ttl: Math.max(0, Math.min(cap, a.ttl)) }));
    // A negative answer keeps the zone's SOA with its TTL: how long the asker may cache that
    // the name (or the type) is not there (RFC 2308 §3, §5).
    const authorities = answers.length === 0 && r.soa ? [r.soa] : [];
    return reply(RCODE[r.rcode], answers, authorities);
  }

  // ---- Transports -----------------------------------------------------------------------------

  async #listen(l: ListenAddress): Promise<ListenAddress> {
    // With port 0, UDP picks the port and TCP must get the same one; another process can take it
    // in between, so try a few times.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.#bindUdp(l);
      const port = udp.address().port;
      try {
        this.#tcp.push(await this.#bindTcp({ host: l.host, port }));
        this.#udp.push(udp);
        return { host: l.host, port };
      } catch (err) {
        udp.close();
        if (l.port !== 0 || attempt >= 4 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  #bindUdp(l: ListenAddress): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: isIPv6(l.host) ? 'udp6' : 'udp4' });
      s.once('error', reject);
      s.bind(l.port, l.host, () => {
        s.off('error', reject);
        s.on('error', (err) => this.#log.warn('dns udp socket error', { err }));
        s.on('message', (msg, rinfo) => this.#onDatagram(s, msg, rinfo));
        resolve(s);
      });
    });
  }

  #onDatagram(s: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    this.counters.udp++;
    if (!this.#admit()) return;
    this.handle(msg, 'udp', rinfo.address)
      .then((answer) => {
        // The callback swallows send errors (the asker went away); the check covers stop().
        if (answer && this.#udp.includes(s)) s.send(answer, rinfo.port, rinfo.address, () => {});
      })
      .catch((err) => this.#log.error('dns query failed', { err }))
      .finally(() => this.#inFlight--);
  }

  #admit(): boolean {
    if (this.#inFlight >= (this.#opts.maxInFlight ?? DNS_MAX_IN_FLIGHT)) {
      this.counters.dropped++;
      return false;
    }
    this.#inFlight++;
    return true;
  }

  #bindTcp(l: ListenAddress): Promise<Server> {
    return new Promise((resolve, reject) => {
      const srv = createServer((sock) => this.#onConnection(sock));
      srv.once('error', reject);
      srv.listen({ host: l.host, port: l.port }, () => {
        srv.off('error', reject);
        srv.on('error', (err) => this.#log.warn('dns tcp listener error', { err }));
        resolve(srv);
      });
    });
  }

  /** Room for a connection from `client`: under its own cap, and under the global one — closing
   * the connection idle longest if need be. False: refuse the new one. */
  #room(client: string): boolean {
    let mine = 0;
    for (const c of this.#conns) if (c.client === client) mine++;
    if (mine >= (this.#opts.maxTcpPerClient ?? DNS_TCP_MAX_PER_CLIENT)) return false;
    if (this.#conns.size < (this.#opts.maxTcpConnections ?? DNS_TCP_MAX_CONNECTIONS)) return true;
    let idlest: TcpConn | undefined;
    for (const c of this.#conns) if (c.pending === 0 && (!idlest || c.lastActive < idlest.lastActive)) idlest = c;
    if (!idlest) return false;
    this.counters.tcpEvicted++;
    this.#conns.delete(idlest);
    idlest.sock.destroy();
    return true;
  }

  /** RFC 7766: length-prefixed messages, pipelined; answers may go out in any order (§6.2.1.1). */
  #onConnection(sock: Socket): void {
    const client = sock.remoteAddress ?? '';
    if (!this.#room(client)) {
      this.counters.tcpRefused++;
      sock.destroy();
      return;
    }
    const conn: TcpConn = { sock, client, pending: 0, lastActive: Date.now() };
    this.#conns.add(conn);
    sock.setNoDelay(true);
    sock.setTimeout(this.#opts.tcpIdleMs ?? DNS_TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => {});
    let partial: NodeJS.Timeout | undefined; // a message has started and must complete in time
    sock.on('close', () => {
      clearTimeout(partial);
      this.#conns.delete(conn);
    });
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      conn.lastActive = Date.now();
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        clearTimeout(partial);
        partial = undefined;
        this.counters.tcp++;
        if (!this.#admit()) continue;
        // Backpressure: a client that pipelines faster than we answer waits in its own buffer.
        if (++conn.pending >= DNS_TCP_PIPELINE) sock.pause();
        this.handle(msg, 'tcp', client)
          .then((answer) => {
            if (!answer || sock.destroyed) return;
            const len2 = Buffer.alloc(2);
            len2.writeUInt16BE(answer.length);
            sock.write(Buffer.concat([len2, answer]));
          })
          .catch((err) => this.#log.error('dns query failed', { err }))
          .finally(() => {
            this.#inFlight--;
            conn.lastActive = Date.now();
            if (--conn.pending < DNS_TCP_PIPELINE && sock.isPaused()) sock.resume();
          });
      }
      // A peer trickling a message one byte per idle period would keep the connection forever:
      // each message has its own deadline, from its first byte.
      if (buf.length > 0 && !partial) partial = setTimeout(() => sock.destroy(), this.#opts.tcpMessageMs ?? DNS_TCP_MESSAGE_MS);
    });
  }
}
