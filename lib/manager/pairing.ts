// Where two tunnel streams meet (DESIGN.md §3, intercept flow): an agent's stream for an accepted
// in-cluster connection and the PAIR stream its owning client opens in answer, or a client's SFTP
// stream and the agent's answer. The manager issues a token bound to the one party that may
// answer it (a session, or one agent), tells that party, and the two streams meet: the answering
// stream is handed to the issuer's side, which splices the two HTTP/2 streams directly (no copy
// in between: the manager's relay is two stream pipes). A token is used once; one nobody answers
// expires; a token presented by anyone but its party is refused — that is what keeps one user's
// intercepted connections from another's hands.
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { DialError } from '../proxy/dialer.js';

interface Pending {
  /** Who may answer: a session name or `agent:<id>`. */
  party: string;
  /** The issuer, waiting for the answer. */
  waiter?: { resolve: (end: Duplex) => void; reject: (err: Error) => void };
  expiry: NodeJS.Timeout;
}

/** The most tokens waiting at once: each stands for an in-cluster connection nobody has answered
 * yet; more than this means the answering side is gone or flooded, and new ones fail fast. */
export const MAX_PENDING_PAIRS = 4096;

export class Pairing {
  readonly #pending = new Map<string, Pending>();

  constructor(private readonly timeoutMs = 10_000) {}

  get size(): number {
    return this.#pending.size;
  }

  /** A new token that only `party` can answer. The issuer then waits for it with wait(). */
  issue(party: string): string {
    if (this.#pending.size >= MAX_PENDING_PAIRS)
      throw new DialError('unreachable', `too many connections wait for an answer (${MAX_PENDING_PAIRS})`);
    const token = randomBytes(18).toString('base64url');
    const p: Pending = {
      party,
      expiry: setTimeout(
        () => this.#fail(token, new DialError('timeout', 'the other side of the stream did not answer in time')),
        this.timeoutMs,
      ),
    };
    this.#pending.set(token, p);
    return token;
  }

  /** The answering stream, once the party answers; fails on timeout, cancel, or the signal. */
  wait(token: string, signal?: AbortSignal): Promise<Duplex> {
    const p = this.#pending.get(token);
    if (!p || p.waiter) return Promise.reject(new DialError('forbidden', 'unknown or used pairing token'));
    return new Promise((resolve, reject) => {
      p.waiter = { resolve, reject };
      signal?.addEventListener('abort', () => this.cancel(token, 'the stream was cancelled'), { once: true });
    });
  }

  /** The answering party hands over its stream (`accept` answers it and returns it, called only
   * once the token is known good). Refused unless `party` is the one the token was issued to. */
  answer(token: string, party: string, accept: () => Duplex): void {
    const p = this.#pending.get(token);
    // The same refusal whether the token is unknown or someone else's: a guess learns nothing.
    if (!p || p.party !== party) throw new DialError('forbidden', 'unknown or used pairing token');
    if (!p.waiter) throw new DialError('forbidden', 'the token is not awaited yet');
    this.#pending.delete(token);
    clearTimeout(p.expiry);
    p.waiter.resolve(accept());
  }

  /** Cancels a token (the side that asked for it went away). */
  cancel(token: string, reason: string): void {
    this.#fail(token, new DialError('refused', reason));
  }

  #fail(token: string, err: Error): void {
    const p = this.#pending.get(token);
    if (!p) return;
    this.#pending.delete(token);
    clearTimeout(p.expiry);
    p.waiter?.reject(err);
  }
}
