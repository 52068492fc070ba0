// Answers for cluster names, from the traffic manager's lookup: one call in flight per question,
// a short negative cache, and a bounded wait — the manager being unreachable must become a fast
// SERVFAIL, because a stub resolver that gets no answer retries for 5–30 s before giving up.

import { isIPv4, isIPv6 } from 'node:net';
import type { DnsRequest, DnsResponse } from '../../common/rpc/manager.js';

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

const SERVFAIL: DnsResponse = { addresses: [], rcode: 'SERVFAIL', ttl: 0 };

export class ClusterAnswers {
  readonly stats: ClusterStats = { lookups: 0, lookupFailures: 0, cacheHits: 0, deduplicated: 0 };
  readonly #inFlight = new Map<string, Promise<DnsResponse>>();
  /** key → expiry time; Map order is insertion order, so the first key is the oldest. */
  readonly #negative = new Map<string, number>();
  readonly #stop = new AbortController();
  readonly #now: () => number;

  constructor(
    private readonly lookup: ClusterLookup,
    private readonly opts: ClusterAnswersOptions,
  ) {
    this.#now = opts.now ?? Date.now;
  }

  /** `name` normalized (lower case, no trailing dot). Never rejects. */
  resolve(name: string, type: 'A' | 'AAAA'): Promise<DnsResponse> {
    const key = `${type} ${name}`;
    const until = this.#negative.get(key);
    if (until !== undefined) {
      if (until > this.#now()) {
        this.stats.cacheHits++;
        return Promise.resolve({ addresses: [], rcode: 'NXDOMAIN', ttl: Math.ceil((until - this.#now()) / 1000) });
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
      if (r.rcode === 'NXDOMAIN') this.#remember(key, Math.min(this.opts.negativeTtlMs, r.ttl * 1000));
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

  async #call(req: DnsRequest): Promise<DnsResponse> {
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

  #remember(key: string, ms: number): void {
    if (!(ms > 0)) return;
    const max = this.opts.maxCached ?? 4096;
    if (this.#negative.size >= max) {
      const oldest = this.#negative.keys().next().value;
      if (oldest !== undefined) this.#negative.delete(oldest);
    }
    this.#negative.set(key, this.#now() + ms);
  }
}

/** The manager's answer is JSON from another process: keep only what fits the question. */
function sanitize(r: DnsResponse, type: 'A' | 'AAAA'): DnsResponse {
  if (!r || (r.rcode !== 'NOERROR' && r.rcode !== 'NXDOMAIN' && r.rcode !== 'SERVFAIL')) return SERVFAIL;
  const fits = type === 'A' ? isIPv4 : isIPv6;
  const addresses = Array.isArray(r.addresses) ? r.addresses.filter((a) => typeof a === 'string' && fits(a)) : [];
  const ttl = Number.isFinite(r.ttl) && r.ttl > 0 ? Math.floor(r.ttl) : 0;
  return { ...(r.canonical ? { canonical: r.canonical } : {}), addresses, rcode: r.rcode, ttl };
}
