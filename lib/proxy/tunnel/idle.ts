// One timer per flow that does not re-arm per packet: activity only stamps a time; when the timer
// fires early it sleeps for the remainder. Cheap enough for every datagram.

export class IdleTimer {
  #last = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {
    this.#arm(idleMs);
  }

  touch(): void {
    this.#last = Date.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      const left = this.#last + this.idleMs - Date.now();
      if (left > 0) this.#arm(left);
      else {
        this.#timer = undefined;
        this.onIdle();
      }
    }, ms);
    // An idle UDP flow must not keep a process alive on its own.
    this.#timer.unref();
  }
}
