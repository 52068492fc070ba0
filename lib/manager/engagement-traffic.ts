// What the agents report of each engagement's traffic (issue #13), summed over the agents of its
// workload, and the rate limit of writing it into the Engagement's status.
//
// Each agent reports cumulative counts since it started; the ledger keeps the last report of each
// agent pod per engagement and sums them, so a report repeated or lost changes nothing. A pod that
// leaves keeps its last counts in the sum (what it saw did happen) until the engagement ends.
//
// Status writes are rate-limited per engagement (TRAFFIC_STATUS_MIN_MS): agents may report every
// few seconds each, and a workload may have many pods; the API server gets at most one patch per
// engagement per interval, carrying the latest sum. `tp list` reads the sum from the manager's
// memory, so it does not wait for the write.
import type { TrafficCounts } from '../common/rpc/engagement.js';

/** At most one status write per engagement this often: `kubectl get engagement -o yaml` may lag
 * this much behind `tp list`, and the API server sees a bounded write rate however busy the
 * workload is. */
export const TRAFFIC_STATUS_MIN_MS = 10_000;

/** The clock the rate limit runs on: the real one, or a test's fake. */
export interface LedgerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const realClock: LedgerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export const ZERO_TRAFFIC: Readonly<TrafficCounts> = Object.freeze({ tapCopies: 0, tapDropped: 0, tapAborted: 0, tlsConnections: 0 });
const FIELDS = ['tapCopies', 'tapDropped', 'tapAborted', 'tlsConnections'] as const;
const same = (a: TrafficCounts, b: TrafficCounts) => FIELDS.every((f) => a[f] === b[f]);

interface Entry {
  /** Last report per agent pod (namespace/name). */
  byPod: Map<string, TrafficCounts>;
  sum: TrafficCounts;
  /** The sum last written (or being written) to the status. */
  written?: TrafficCounts;
  lastWriteAt?: number;
  timer?: unknown;
}

export interface TrafficLedgerOptions {
  /** Writes an engagement's sum into its status (errors are the writer's to log). */
  write: (engagementId: string, traffic: TrafficCounts) => Promise<void>;
  minIntervalMs?: number;
  clock?: LedgerClock;
}

export class TrafficLedger {
  readonly #o: TrafficLedgerOptions;
  readonly #clock: LedgerClock;
  readonly #entries = new Map<string, Entry>();

  constructor(o: TrafficLedgerOptions) {
    this.#o = o;
    this.#clock = o.clock ?? realClock;
  }

  /** One agent's counts for one engagement; the new sum when it changed, else undefined. */
  report(engagementId: string, pod: string, counts: TrafficCounts): TrafficCounts | undefined {
    let e = this.#entries.get(engagementId);
    if (!e) this.#entries.set(engagementId, (e = { byPod: new Map(), sum: { ...ZERO_TRAFFIC } }));
    const had = e.byPod.get(pod);
    if (had && same(had, counts)) return undefined;
    e.byPod.set(pod, {
      tapCopies: counts.tapCopies,
      tapDropped: counts.tapDropped,
      tapAborted: counts.tapAborted,
      tlsConnections: counts.tlsConnections,
    });
    const sum = { ...ZERO_TRAFFIC };
    for (const c of e.byPod.values()) for (const f of FIELDS) sum[f] += c[f];
    if (same(sum, e.sum)) return undefined;
    e.sum = sum;
    this.#schedule(engagementId, e);
    return sum;
  }

  get(engagementId: string): TrafficCounts | undefined {
    return this.#entries.get(engagementId)?.sum;
  }

  /** The engagement ended: nothing more is written for it. */
  forget(engagementId: string): void {
    const e = this.#entries.get(engagementId);
    if (e?.timer !== undefined) this.#clock.clearTimeout(e.timer);
    this.#entries.delete(engagementId);
  }

  /** Writes now when the last write is old enough, else once when it is (with the sum then). */
  #schedule(id: string, e: Entry): void {
    if (e.timer !== undefined) return;
    const min = this.#o.minIntervalMs ?? TRAFFIC_STATUS_MIN_MS;
    const wait = e.lastWriteAt === undefined ? 0 : Math.max(0, e.lastWriteAt + min - this.#clock.now());
    if (wait === 0) return this.#write(id, e);
    e.timer = this.#clock.setTimeout(() => {
      e.timer = undefined;
      if (this.#entries.get(id) === e) this.#write(id, e);
    }, wait);
  }

  #write(id: string, e: Entry): void {
    if (e.written && same(e.written, e.sum)) return;
    e.written = { ...e.sum };
    e.lastWriteAt = this.#clock.now();
    void this.#o.write(id, e.written);
  }
}
