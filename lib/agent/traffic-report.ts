// Reports what the agent saw of its engagements' traffic to the manager (issue #13), so that
// `tp list` can say "wiretap: N copies dropped" and "TLS seen: filters cannot match".
//
// Cheap when nothing changed: every AGENT_TRAFFIC_REPORT_MS one walk over the routers' counters
// (a handful of numbers per engagement) and a string compare; a call only when the counts differ
// from the last ones the manager accepted. Counts are cumulative since the agent started, so a
// lost report is repaired by the next one, and after a reconnection (a new manager, or the same
// one that forgot us) the last counts are sent again.
import type { EngagementTraffic } from './forwarder.js';

/** How often the agent may report. The user waits for this to see a TLS warning after the first
 * TLS connection (plus the manager's own status rate limit, which `tp list` does not wait for); a
 * busy workload with a slow wiretap changes its counts on every request, so reporting on each
 * change would turn traffic into manager calls. A few seconds is both prompt and bounded. */
export const AGENT_TRAFFIC_REPORT_MS = 5_000;

/** The timers the reporter runs on: the real ones, or a test's fake clock. */
export interface ReportTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}
const realTimers: ReportTimers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface TrafficReporterOptions {
  /** The counts now (Forwarder.traffic()). */
  read: () => EngagementTraffic[];
  /** Sends them; rejects when the manager did not take them (they are sent again next time). */
  send: (traffic: EngagementTraffic[]) => Promise<void>;
  intervalMs?: number;
  timers?: ReportTimers;
}

export class TrafficReporter {
  readonly #o: TrafficReporterOptions;
  readonly #timers: ReportTimers;
  #handle: unknown;
  /** The counts the manager last accepted, as JSON. */
  #sent = '[]';
  #inFlight = false;

  constructor(o: TrafficReporterOptions) {
    this.#o = o;
    this.#timers = o.timers ?? realTimers;
  }

  start(): void {
    if (this.#handle === undefined)
      this.#handle = this.#timers.setInterval(() => void this.tick(), this.#o.intervalMs ?? AGENT_TRAFFIC_REPORT_MS);
  }

  stop(): void {
    if (this.#handle !== undefined) this.#timers.clearInterval(this.#handle);
    this.#handle = undefined;
  }

  /** The manager connection is new: it may not have our counts. */
  reset(): void {
    this.#sent = '[]';
  }

  /** One look at the counts; sends them when they changed. At most one call is in flight. */
  async tick(): Promise<void> {
    if (this.#inFlight) return;
    // Engagements with nothing to tell are left out: most engagements never drop a copy nor
    // see TLS, and the manager treats an absent engagement as all zeros.
    const now = this.#o.read().filter((t) => t.tapCopies || t.tapDropped || t.tapAborted || t.tlsConnections);
    now.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const json = JSON.stringify(now);
    if (json === this.#sent) return;
    this.#inFlight = true;
    try {
      await this.#o.send(now);
      this.#sent = json;
    } catch {
      // Not taken (no manager, or an older one without the call): the next tick tries again.
    } finally {
      this.#inFlight = false;
    }
  }
}
