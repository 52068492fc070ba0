// Where two tunnel streams meet (DESIGN.md §3, intercept flow): an agent's stream for an accepted
// in-cluster connection and the stream its owning client opens in answer, or a client's SFTP
// stream and the agent's answer. The manager issues a token, tells the other side, and each side's
// CONNECT calls meet(token); both get one end of an in-memory pair, so the tunnel server splices
// each stream as if it had dialled a socket. Only tokens the manager issued are accepted, each
// once, and a token nobody answers expires.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { DialError } from '../proxy/dialer.js';
import { duplexPair } from '../proxy/duplex-pair.js';

interface Pending {
  /** The first arrival, waiting for the second. */
  waiter?: (end: Duplex) => void;
  expiry: NodeJS.Timeout;
  fail: (err: Error) => void;
}

export class Rendezvous {
  readonly #pending = new Map<string, Pending>();

  constructor(private readonly timeoutMs = 10_000) {}

  /** A new token; its meeting fails for whoever waits if the other side has not come in time. */
  issue(): string {
    const token = randomUUID();
    const p: Pending = {
      expiry: setTimeout(() => {
        this.#pending.delete(token);
        p.fail(new DialError('timeout', 'the other side of the stream did not answer in time'));
      }, this.timeoutMs),
      fail: () => {},
    };
    this.#pending.set(token, p);
    return token;
  }

  /** Cancels a token (the side that asked for it went away). */
  cancel(token: string, reason: string): void {
    const p = this.#pending.get(token);
    if (!p) return;
    this.#pending.delete(token);
    clearTimeout(p.expiry);
    p.fail(new DialError('refused', reason));
  }

  get size(): number {
    return this.#pending.size;
  }

  meet(token: string, signal?: AbortSignal): Promise<Duplex> {
    const p = this.#pending.get(token);
    if (!p) return Promise.reject(new DialError('forbidden', 'unknown or used rendezvous token'));
    if (p.waiter) {
      this.#pending.delete(token);
      clearTimeout(p.expiry);
      const [a, b] = duplexPair();
      p.waiter(a);
      return Promise.resolve(b);
    }
    return new Promise((resolve, reject) => {
      p.waiter = resolve;
      p.fail = reject;
      signal?.addEventListener('abort', () => this.cancel(token, 'the stream was cancelled'), { once: true });
    });
  }
}
