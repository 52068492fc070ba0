// One timer per connection for its budgets (lib/common/limits.ts): a deadline (the request head
// must be complete by then) or an idle limit (no byte either way for so long). Phases re-arm it.
// Idle limits do not reset a timer per chunk: traffic only records the time, and when the timer
// fires it re-arms for what is left, so a busy connection costs one timer per idle period.

export class Watchdog {
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  #idleMs = 0;
  #expire: (() => void) | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** A byte went one way or the other. */
  touch(): void {
    this.#last = this.now();
  }

  /** `expire` runs `ms` from now, whatever traffic there is. */
  deadline(ms: number, expire: () => void): void {
    this.clear();
    if (ms <= 0 || !Number.isFinite(ms)) return;
    this.#timer = setTimeout(expire, ms);
    this.#timer.unref?.();
  }

  /** `expire` runs once `ms` pass without touch(); 0 or Infinity: no limit. */
  idle(ms: number, expire: () => void): void {
    this.clear();
    if (ms <= 0 || !Number.isFinite(ms)) return;
    this.#idleMs = ms;
    this.#expire = expire;
    this.touch();
    this.#arm(ms);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const quiet = this.now() - this.#last;
      if (quiet >= this.#idleMs) this.#expire?.();
      else this.#arm(this.#idleMs - quiet);
    }, ms);
    this.#timer.unref?.();
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#expire = undefined;
  }
}
