// Query budget per client address (#12): a token bucket each, `rate` tokens a second up to
// `burst`. Only the `maxClients` most recently seen addresses are remembered, so a flood from many
// addresses costs bounded memory (a forgotten client starts again with a full bucket, which is
// what a new client gets anyway).

export class QueryBudget {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxClients: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spend one query of `client`'s budget; false when it is spent. */
  take(client: string): boolean {
    const t = this.now();
    let b = this.#buckets.get(client);
    if (b) {
      this.#buckets.delete(client); // re-inserted below: the Map's order is recency
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) * this.rate) / 1000);
      b.at = t;
    } else {
      b = { tokens: this.burst, at: t };
      if (this.#buckets.size >= this.maxClients) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get clients(): number {
    return this.#buckets.size;
  }
}
