// What every connection handler shares: the dialer, the credentials, counters and the log, and
// the two things they all do the same way — dial a flow on behalf of a client, and check a
// password.

import { createHash, timingSafeEqual } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DialFailure, Dialer } from '../dialer.js';
import { failureOf } from './failure.js';
import { splice } from '../splice.js';
import type { Credentials, LogFn, ProxyStats } from './types.js';

export interface ProxyContext {
  readonly dialer: Dialer;
  readonly credentials: Credentials | undefined;
  readonly stats: ProxyStats;
  readonly log: LogFn;
  /** Cap on UDP flows (destinations) per association. */
  readonly maxUdpFlows: number;
}

export type DialOutcome = { ok: true; stream: Duplex } | { ok: false; failure: DialFailure; error: unknown };

/** Dials for `client`; the dial is aborted if the client goes away first, and a stream that
 * arrives after the client left is destroyed rather than leaked. */
export async function dialFor(ctx: ProxyContext, client: Socket, host: string, port: number): Promise<DialOutcome> {
  const abort = new AbortController();
  const onGone = () => abort.abort(new Error('client closed the connection during the dial'));
  client.once('close', onGone);
  try {
    const stream = await ctx.dialer.dialTcp(host, port, abort.signal);
    if (client.destroyed) {
      stream.destroy();
      return { ok: false, failure: 'other', error: new Error('client left during the dial') };
    }
    return { ok: true, stream };
  } catch (error) {
    ctx.stats.dialFailures++;
    return { ok: false, failure: failureOf(error), error };
  } finally {
    client.off('close', onGone);
  }
}

/** Flow events for tests and `tp status` to subscribe to (STYLE.md §7); publishing with no
 * subscriber costs a boolean check. */
const flowOpen = channel('tp:flow:open');
const flowClose = channel('tp:flow:close');

/** Splices a dialed flow to the client and keeps the flow counters. */
export function relay(ctx: ProxyContext, client: Duplex, upstream: Duplex, fields: Record<string, unknown>): void {
  ctx.stats.flowsActive++;
  ctx.stats.flowsTotal++;
  ctx.log('debug', 'flow open', fields);
  if (flowOpen.hasSubscribers) flowOpen.publish({ source: 'socks', ...fields });
  void splice(client, upstream).then(({ error }) => {
    ctx.stats.flowsActive--;
    const closed = error ? { ...fields, error: error.message } : fields;
    ctx.log('debug', 'flow close', closed);
    if (flowClose.hasSubscribers) flowClose.publish({ source: 'socks', ...closed });
  });
}

/** Compares digests so that neither the length nor a common prefix shows in the timing. */
export function credentialsMatch(want: Credentials, got: Credentials): boolean {
  const sha = (s: string) => createHash('sha256').update(s).digest();
  const digest = (c: Credentials) => Buffer.concat([sha(c.username), sha(c.password)]);
  return timingSafeEqual(digest(want), digest(got));
}
