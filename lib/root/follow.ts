// The root daemon follows its user daemon (issue 18): a user daemon holds a connection to the
// watch socket for as long as it lives. When the last one closes and none is back within the
// grace period, the root daemon has no owner left — nobody will ever ask it to disconnect, and
// its relay to the manager is gone with the user daemon — so it reverts everything and exits.
// The grace runs from the start too: a root daemon whose user daemon died before it attached
// must not stay forever. Pure bookkeeping; the timer is injected so tests drive it.

/** How long the root daemon waits for its user daemon to come back (a restart, `tp connect`
 * after a crash of the user daemon) before it undoes everything and exits. */
export const FOLLOW_GRACE_MS = 10_000;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Followers {
  #count = 0;
  #timer: unknown;
  #fired = false;

  constructor(
    readonly graceMs: number,
    private readonly onAlone: () => void,
    private readonly timers: Timers = realTimers,
  ) {
    this.#arm();
  }

  get count(): number {
    return this.#count;
  }

  /** A follower arrived; the returned function says it left (idempotent). */
  attach(): () => void {
    this.#count++;
    this.#disarm();
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#count--;
      if (this.#count === 0) this.#arm();
    };
  }

  /** Stops the timer for good (the daemon is exiting anyway). */
  stop(): void {
    this.#fired = true;
    this.#disarm();
  }

  #arm(): void {
    if (this.#fired) return;
    this.#disarm();
    this.#timer = this.timers.setTimeout(() => {
      this.#timer = undefined;
      if (this.#fired || this.#count > 0) return;
      this.#fired = true;
      this.onAlone();
    }, this.graceMs);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
