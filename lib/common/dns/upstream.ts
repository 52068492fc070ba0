// Forwarding a query to a nameserver: the root daemon relays non-cluster names to the workstation's
// original resolver with it, and the traffic manager asks the cluster's DNS with it (issue #16).
// The query's bytes go out unchanged except for the ID, and the answer's bytes come back unchanged
// except for the ID, so a non-cluster name resolves exactly as it did before tp (EDNS options,
// DNSSEC records, cookies included).
//
// Each query gets its own socket, connected to the upstream: the kernel then picks a random source
// port and drops datagrams from anyone else (RFC 5452 §9.2 — ID plus port against spoofing), and
// ICMP port-unreachable surfaces as ECONNREFUSED so a dead upstream fails over at once instead of
// at the timeout. A fresh random ID per query means two clients that chose the same ID never meet.

import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect as tcpConnect, isIPv4, isIPv6 } from 'node:net';
import { HEADER_LEN, rawTruncated } from './message.js';

export interface Upstream {
  host: string;
  port: number;
}

/** `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353` → host and port (53 by default). */
export function parseUpstream(s: string): Upstream {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6 && isIPv6(v6[1]!)) return { host: v6[1]!, port: port(v6[2], s) };
  if (isIPv6(s)) return { host: s, port: 53 };
  const v4 = /^([^:]+)(?::(\d+))?$/.exec(s);
  if (v4 && isIPv4(v4[1]!)) return { host: v4[1]!, port: port(v4[2], s) };
  throw new Error(`"${s}" is not a nameserver address (ip, ip:port or [ipv6]:port)`);
}

function port(p: string | undefined, whole: string): number {
  if (p === undefined) return 53;
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`"${whole}" has no valid port`);
  return n;
}

export interface ForwardStats {
  forwarded: number;
  /** Our own forwarded queries that came back to us (a redirect that does not exempt us). */
  loops: number;
  tcpFallbacks: number;
  upstreamFailures: number;
  mismatched: number;
}

export class Forwarder {
  readonly stats: ForwardStats = { forwarded: 0, loops: 0, tcpFallbacks: 0, upstreamFailures: 0, mismatched: 0 };

  /** Outgoing queries in flight, by the wire bytes after the ID (flags and question). */
  readonly #outgoing = new Map<string, number>();

  constructor(
    private readonly upstreams: readonly Upstream[],
    private readonly timeoutMs: number,
    /** Where forwarded queries come from, so that a DNAT rule that sends the original
     * nameserver's port 53 to us can exempt our own traffic (`! --sport FIRST:LAST`). */
    private readonly source: UpstreamSource = {},
  ) {}

  /**
   * `query` is one we forwarded that came back: with the system resolver redirected to us, a
   * forward to that same address loops unless the redirect exempts us. Dropping it ends the loop
   * (the original forward times out into SERVFAIL) instead of multiplying queries.
   */
  isOwn(query: Buffer): boolean {
    if (this.#outgoing.size === 0 || query.length < HEADER_LEN) return false;
    const own = this.#outgoing.get(query.toString('latin1', 2)) === query.readUInt16BE(0);
    if (own) this.stats.loops++;
    return own;
  }

  /**
   * The upstream's answer to `query`, with the query's ID, or undefined when no upstream answered
   * in time (the caller says SERVFAIL). `clientMax` is the largest answer the client can take: a
   * truncated UDP answer is retried over TCP and the full one used when it fits; otherwise the
   * truncated one goes back and the client retries over TCP itself (RFC 7766 §5).
   */
  async forward(query: Buffer, clientMax: number): Promise<Buffer | undefined> {
    this.stats.forwarded++;
    const deadline = Date.now() + this.timeoutMs;
    const out = Buffer.from(query);
    const id = randomInt(0, 0x10000);
    out.writeUInt16BE(id, 0);
    const key = out.toString('latin1', 2);
    this.#outgoing.set(key, id);
    try {
      return await this.#tryAll(out, id, query.readUInt16BE(0), deadline, clientMax);
    } finally {
      if (this.#outgoing.get(key) === id) this.#outgoing.delete(key);
    }
  }

  async #tryAll(out: Buffer, id: number, clientId: number, deadline: number, clientMax: number): Promise<Buffer | undefined> {
    for (let i = 0; i < this.upstreams.length; i++) {
      const up = this.upstreams[i]!;
      // Share what is left of the budget among the upstreams not yet tried.
      const budget = Math.max(1, Math.floor((deadline - Date.now()) / (this.upstreams.length - i)));
      try {
        let answer = await this.#udp(up, out, id, budget);
        if (rawTruncated(answer)) {
          this.stats.tcpFallbacks++;
          try {
            const full = await tcpExchange(up, out, id, Math.max(1, deadline - Date.now()), this.source);
            if (full.length <= clientMax) answer = full;
          } catch {
            // The truncated answer is still an answer: the client will ask us over TCP.
          }
        }
        return withId(answer, clientId);
      } catch {
        this.stats.upstreamFailures++;
      }
      if (Date.now() >= deadline) break;
    }
    return undefined;
  }

  #udp(up: Upstream, query: Buffer, id: number, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(isIPv6(up.host) ? 'udp6' : 'udp4');
      let finished = false;
      const done = (err: Error | undefined, answer?: Buffer) => {
        if (finished) return; // close() twice throws
        finished = true;
        clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(() => done(new Error(`no answer from ${up.host}:${up.port} within ${timeoutMs} ms`)), timeoutMs);
      sock.on('error', (err) => done(err));
      sock.on('message', (msg) => {
        if (!matches(msg, query, id)) {
          this.stats.mismatched++; // a late answer to an earlier try, or garbage: keep waiting
          return;
        }
        done(undefined, msg);
      });
      const go = () => sock.connect(up.port, up.host, () => sock.send(query));
      if (this.source.address || this.source.portRange) {
        sock.bind({ port: pickSourcePort(this.source), ...(this.source.address ? { address: this.source.address } : {}) }, go);
      } else go();
    });
  }
}

/** Source of forwarded queries: an address, and/or a port range below the kernel's ephemeral
 * range, so no other program's query ever leaves from it. */
export interface UpstreamSource {
  address?: string;
  portRange?: readonly [first: number, last: number];
}

/** A random port of the range (0 = any): a busy one fails that try, the next query picks again. */
export function pickSourcePort(source: UpstreamSource): number {
  if (!source.portRange) return 0;
  const [first, last] = source.portRange;
  return first + randomInt(0, last - first + 1);
}

/** One query over a fresh TCP connection (RFC 7766 §8: two-byte length prefix). */
export function tcpExchange(up: Upstream, query: Buffer, id: number, timeoutMs: number, source: UpstreamSource = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({
      host: up.host,
      port: up.port,
      noDelay: true,
      ...(source.address ? { localAddress: source.address } : {}),
      ...(source.portRange ? { localPort: pickSourcePort(source) } : {}),
    });
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: Error | undefined, answer?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error(`no TCP answer from ${up.host}:${up.port} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error(`${up.host}:${up.port} closed the TCP connection without an answer`)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        if (matches(msg, query, id)) return done(undefined, Buffer.from(msg));
      }
    });
  });
}

/** An answer belongs to our query: same ID, QR set, and (if it echoes one) the same question,
 * compared case-insensitively because some servers normalise 0x20-randomised case. */
function matches(msg: Buffer, query: Buffer, id: number): boolean {
  if (msg.length < HEADER_LEN || msg.readUInt16BE(0) !== id || (msg[2]! & 0x80) === 0) return false;
  if (msg.readUInt16BE(4) === 0) return true; // FORMERR/NOTIMP answers may omit the question
  const qEnd = questionBytes(query);
  if (qEnd === undefined || msg.length < qEnd) return false;
  for (let i = HEADER_LEN; i < qEnd; i++) {
    if (lower(msg[i]!) !== lower(query[i]!)) return false;
  }
  return true;
}

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/** End of the first question of our own (already validated, uncompressed) query. */
function questionBytes(q: Buffer): number | undefined {
  let off = HEADER_LEN;
  while (off < q.length && q[off] !== 0) off += q[off]! + 1;
  return off < q.length ? off + 5 : undefined;
}

function withId(answer: Buffer, id: number): Buffer {
  const out = Buffer.from(answer);
  out.writeUInt16BE(id, 0);
  return out;
}
