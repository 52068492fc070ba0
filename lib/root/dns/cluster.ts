// Answers for cluster names, from the traffic manager's lookup: one call in flight per question,
// a short negative cache, and a bounded wait — the manager being unreachable must become a fast
// SERVFAIL, because a stub resolver that gets no answer retries for 5–30 s before giving up.

import { isIPv4, isIPv6 } from 'node:net';
import type { DnsRecord, DnsRequest, DnsResponse } from '../../common/rpc/manager.js';
import { TYPE, encodeName, encodeRdata, typeNumber } from '../../common/dns/message.js';

/** The manager's DNS call, as the root daemon receives it from the user daemon's relay. */
export type ClusterLookup = (req: DnsRequest, signal: AbortSignal) => Promise<DnsResponse>;

export interface ClusterAnswersOptions {
  /** How long one lookup may take before it counts as failed (SERVFAIL). */
  lookupTimeoutMs: number;
  /** How long an NXDOMAIN is remembered (capped by the manager's TTL). */
  negativeTtlMs: number;
  /** Entries kept in the negative cache at most. */
  maxCached?: number;
  now?: () => number;
}

export interface ClusterStats {
  lookups: number;
  lookupFailures: number;
  cacheHits: number;
  deduplicated: number;
}

/** One record ready for the wire. */
export interface ClusterRecord {
  /** Absent: the question's name (the record of the name that was asked, re-owned — the search
   * list may have found it under a longer name). */
  owner?: string;
  type: number;
  ttl: number;
  rdata: Buffer;
}

/** The manager's answer, checked and encoded. */
export interface ClusterAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';
  ttl: number;
  answers: ClusterRecord[];
  /** The zone's SOA, for the authority section of a negative answer (RFC 2308 §3). */
  soa?: ClusterRecord;
}

const SERVFAIL: ClusterAnswer = { rcode: 'SERVFAIL', ttl: 0, answers: [] };
/** TTLs are unsigned 31-bit (RFC 2181 §8); anything above is treated as 0 by resolvers. */
const MAX_TTL = 0x7fffffff;

export class ClusterAnswers {
  readonly stats: ClusterStats = { lookups: 0, lookupFailures: 0, cacheHits: 0, deduplicated: 0 };
  readonly #inFlight = new Map<string, Promise<ClusterAnswer>>();
  /** key → expiry time and the answer; Map order is insertion order, so the first key is the oldest. */
  readonly #negative = new Map<string, { until: number; answer: ClusterAnswer }>();
  readonly #stop = new AbortController();
  readonly #now: () => number;

  constructor(
    private readonly lookup: ClusterLookup,
    private readonly opts: ClusterAnswersOptions,
  ) {
    this.#now = opts.now ?? Date.now;
  }

  /** `name` normalized (lower case, no trailing dot), `type` a mnemonic or TYPEnnn. Never rejects. */
  resolve(name: string, type: string): Promise<ClusterAnswer> {
    const key = `${type} ${name}`;
    const cached = this.#negative.get(key);
    if (cached !== undefined) {
      const left = Math.ceil((cached.until - this.#now()) / 1000);
      if (left > 0) {
        this.stats.cacheHits++;
        // RFC 2308 §5: what comes from a negative cache carries the time it has left.
        const soa = cached.answer.soa ? { ...cached.answer.soa, ttl: Math.min(cached.answer.soa.ttl, left) } : undefined;
        return Promise.resolve({ ...cached.answer, ttl: left, ...(soa ? { soa } : {}) });
      }
      this.#negative.delete(key);
    }
    // glibc asks A and AAAA together and retries after 1 s (5 s by default), and several programs
    // resolve the same name at once: one manager call answers all of them.
    const pending = this.#inFlight.get(key);
    if (pending) {
      this.stats.deduplicated++;
      return pending;
    }
    const p = this.#call({ name, type }).then((r) => {
      this.#inFlight.delete(key);
      if (r.rcode === 'NXDOMAIN') this.#remember(key, Math.min(this.opts.negativeTtlMs, r.ttl * 1000), r);
      return r;
    });
    this.#inFlight.set(key, p);
    return p;
  }

  /** Forget cached negatives (the namespace or the namespace list changed). */
  clear(): void {
    this.#negative.clear();
  }

  /** Abort lookups in flight; later calls fail at once. */
  close(): void {
    this.#stop.abort();
  }

  async #call(req: DnsRequest): Promise<ClusterAnswer> {
    this.stats.lookups++;
    if (this.#stop.signal.aborted) return SERVFAIL;
    const ac = new AbortController();
    const onStop = () => ac.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    // The race does not trust `lookup` to honour its signal: a relay stuck in a half-open
    // connection must not hold the client's question beyond the timeout.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`the cluster lookup of ${req.name} took longer than ${this.opts.lookupTimeoutMs} ms`);
        ac.abort(err);
        reject(err);
      }, this.opts.lookupTimeoutMs);
    });
    try {
      return sanitize(await Promise.race([this.lookup(req, ac.signal), deadline]), req.type);
    } catch {
      this.stats.lookupFailures++;
      return SERVFAIL;
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  #remember(key: string, ms: number, answer: ClusterAnswer): void {
    if (!(ms > 0)) return;
    const max = this.opts.maxCached ?? 4096;
    if (this.#negative.size >= max) {
      const oldest = this.#negative.keys().next().value;
      if (oldest !== undefined) this.#negative.delete(oldest);
    }
    this.#negative.set(key, { until: this.#now() + ms, answer });
  }
}

/** The manager's answer is JSON from another process: keep only what is well-formed, encoded for
 * the wire. A manager before issue #16 sends `addresses` only; they still answer A and AAAA. */
function sanitize(r: DnsResponse, type: string): ClusterAnswer {
  if (!r || typeof r !== 'object' || (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN' && r.rcode !== 'SERVFAIL')) return SERVFAIL;
  const ttl = Number.isFinite(r.ttl) && r.ttl > 0 ? Math.min(MAX_TTL, Math.floor(r.ttl)) : 0;
  const canonical = typeof r.canonical === 'string' ? r.canonical.toLowerCase().replace(/\.$/, '') : undefined;
  let answers: ClusterRecord[];
  if (Array.isArray(r.records)) {
    answers = r.records.map((x) => encodeRecord(x, canonical)).filter((x): x is ClusterRecord => x !== undefined);
  } else {
    const qtype = type === 'A' ? TYPE.A : type === 'AAAA' ? TYPE.AAAA : undefined;
    const fits = qtype === TYPE.A ? isIPv4 : isIPv6;
    const addresses = qtype !== undefined && Array.isArray(r.addresses) ? r.addresses.filter((a) => typeof a === 'string' && fits(a)) : [];
    answers = addresses.map((a) => ({ type: qtype!, ttl, rdata: encodeRdata(qtype!, { address: a }) }));
  }
  const soa = r.soa && r.soa.type === 'SOA' ? encodeRecord(r.soa, undefined) : undefined;
  return { rcode: r.rcode, ttl, answers: r.rcode === 'NOERROR' ? answers : [], ...(soa && soa.owner !== undefined ? { soa } : {}) };
}

/** One record for the wire, or undefined when any part of it is malformed. */
function encodeRecord(x: DnsRecord, canonical: string | undefined): ClusterRecord | undefined {
  if (!x || typeof x !== 'object' || typeof x.name !== 'string' || typeof x.type !== 'string') return undefined;
  const type = typeNumber(x.type);
  if (type === undefined || type === TYPE.OPT || !Number.isFinite(x.ttl) || x.ttl < 0) return undefined;
  try {
    const rdata = encodeRdata(type, x.data);
    const name = x.name.replace(/\.$/, '');
    encodeName(name); // throws for a name no message can carry
    const own = canonical !== undefined && name.toLowerCase() === canonical;
    return { ...(own ? {} : { owner: name }), type, ttl: Math.min(MAX_TTL, Math.floor(x.ttl)), rdata };
  } catch {
    return undefined;
  }
}
