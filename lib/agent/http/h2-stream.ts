// One client stream through the agent: routed by its own headers, relayed to one upstream stream,
// copied to wiretaps. See h2.ts for the promises it keeps; the comments here say how.
//
// How a relayed stream can end, and what each side is told:
// - both sides complete: END_STREAM each way, trailers passed on (an empty trailer set ends the
//   stream with an empty DATA frame, which is what sending no trailers looks like);
// - the client resets (cancellation): the upstream stream is reset with the mapped code;
// - the destination resets, or its session dies or drains past this stream: the client stream is
//   reset with the mapped code (REFUSED_STREAM stays REFUSED_STREAM: the client may retry);
// - no destination (cannot open, not HTTP/2, closed before answering): the agent answers itself
//   (gRPC: trailers-only UNAVAILABLE; else 502), and the copies are reset;
// - the grpc-timeout passes: DEADLINE_EXCEEDED (or CANCEL once the answer has begun) and the
//   upstream stream is cancelled;
// - no DATA either way for tunnelIdleTimeoutMs: CANCEL both ways.
import {
  constants,
  sensitiveHeaders,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { filterView, pickIntercept } from './filter.js';
import {
  agentAnswer,
  CANCEL,
  formatGrpcTimeout,
  GRPC,
  INTERNAL_ERROR,
  isGrpc,
  mapResetCode,
  NO_ERROR,
  parseGrpcTimeout,
  REFUSED_STREAM,
} from './h2-codes.js';
import { UpstreamUnavailable } from './h2-upstream.js';
import type { H2Hub } from './h2.js';
import { APP } from './router.js';
import { Watchdog } from './watchdog.js';

const END_STREAM = constants.NGHTTP2_FLAG_END_STREAM;

/** A copy of a received header set that Node accepts for sending (keeps never-indexed fields). */
function outgoing(h: IncomingHttpHeaders, drop?: (name: string) => boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !drop?.(k)) out[k] = v;
  const sensitive = (h as Record<symbol, unknown>)[sensitiveHeaders];
  if (Array.isArray(sensitive) && sensitive.length) (out as Record<symbol, unknown>)[sensitiveHeaders] = sensitive;
  return out;
}

export async function relayStream(
  hub: H2Hub,
  cs: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  raw: string[],
): Promise<void> {
  const host = hub.host;
  const t0 = Date.now();
  const clientEnded = (flags & END_STREAM) !== 0;
  const eng = hub.engagements();
  const target = pickIntercept(eng.intercepts, filterView(raw));
  const id = target?.id ?? APP;
  const dest = id === APP ? 'the app' : `the workstation of ${id}`;
  const st = host.destStats(id);
  st.requests++;
  const grpc = isGrpc(headers['content-type']);
  const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
  const deadlineAt = timeoutMs === undefined ? undefined : t0 + timeoutMs;

  const out = outgoing(headers);
  // Node fills in a missing :authority with the session's own name; the app must see the
  // client's (RFC 9113 §8.3.1: a client may send Host instead).
  if (out[':authority'] === undefined && typeof headers.host === 'string' && headers[':method'] !== 'CONNECT')
    out[':authority'] = headers.host;
  const copies = hub.taps.begin(eng.wiretaps, out, clientEnded);

  let up: ClientHttp2Stream | undefined;
  let responded = false; // response HEADERS went to the client (or the agent answered)
  let responseDone = false; // the client's stream has its END_STREAM
  let upClosedClean = false;
  // The client's request is complete (END_STREAM seen). Not cs.readableEnded: a stream nobody
  // reads (its END_STREAM came with the HEADERS) never emits 'end'.
  let requestDone = clientEnded;
  let resetUpByUs = false;
  let resetClientByUs = false;
  let reqTrailers: OutgoingHttpHeaders | undefined;
  let resTrailers: OutgoingHttpHeaders | undefined;
  const dog = new Watchdog();
  let deadline: NodeJS.Timeout | undefined;

  cs.on('error', (e) => host.log?.debug('http2 client stream error', { dest: id, err: e.message }));

  const resetClient = (code: number) => {
    if (cs.closed || cs.destroyed) return;
    resetClientByUs = true;
    cs.close(code);
  };
  const resetUp = (code: number) => {
    if (!up || up.closed || up.destroyed) return;
    resetUpByUs = true;
    up.close(code);
  };
  /** The client's request may still be coming after its answer is complete: RFC 9113 §8.1 lets a
   * server stop it with RST_STREAM(NO_ERROR), sent by Node once the answer is flushed. */
  const stopRequestIfDone = () => {
    if (responseDone && upClosedClean && !requestDone && !cs.closed) resetClient(NO_ERROR);
  };
  const answer = (grpcStatus: number, message: string) => {
    if (cs.closed || cs.destroyed) return;
    if (cs.headersSent) return resetClient(mapResetCode(CANCEL));
    const a = agentAnswer(grpc, grpcStatus, message);
    responded = true;
    try {
      cs.respond(a.headers, { endStream: a.body === undefined });
      if (a.body !== undefined) cs.end(a.body);
    } catch {
      return resetClient(CANCEL);
    }
    responseDone = true;
    copies?.abort();
    if (!requestDone) resetClient(NO_ERROR);
  };

  cs.once('close', () => {
    dog.clear();
    clearTimeout(deadline);
    const code = cs.rstCode;
    const clean = responseDone && code === NO_ERROR;
    if (!clean) {
      if (!resetClientByUs && code !== undefined && code !== NO_ERROR) host.stats.h2.resetsFromClient++;
      copies?.abort();
      if (!resetUpByUs) resetUp(mapResetCode(code === undefined || code === NO_ERROR ? CANCEL : code));
    } else if (up && !up.closed) {
      // Complete on the client's side; the upstream's side is complete too or about to be.
      resetUp(NO_ERROR);
    }
  });

  if (deadlineAt !== undefined) {
    deadline = setTimeout(
      () => {
        if (cs.closed) return;
        host.stats.h2.deadlines++;
        if (!responded)
          answer(GRPC.DEADLINE_EXCEEDED, `the deadline (grpc-timeout ${String(headers['grpc-timeout'])}) passed before ${dest} answered`);
        else resetClient(CANCEL);
        resetUp(CANCEL);
      },
      Math.max(0, deadlineAt - Date.now()),
    );
    deadline.unref();
  }
  // No DATA either way for this long ends the stream; a long-lived stream that talks stays.
  dog.idle(host.budgets.tunnelIdleTimeoutMs, () => {
    host.stats.h2.idle++;
    resetClient(CANCEL);
    resetUp(CANCEL);
  });

  // An upstream stream, on a fresh session if the pooled one is going away (GOAWAY) as we ask.
  let session!: ClientHttp2Session;
  for (let attempt = 0; !up; attempt++) {
    let release: () => void;
    try {
      ({ session, release } = await hub.pool.acquire(id, target?.open ?? eng.app));
    } catch (e) {
      if (cs.closed) return;
      st.failures++;
      host.stats.h2.unavailable++;
      host.log?.debug('http2 upstream unavailable', { dest: id, err: (e as Error).message });
      const why = e instanceof UpstreamUnavailable ? e.message : 'it failed';
      return answer(GRPC.UNAVAILABLE, `could not reach ${dest}: ${why}`);
    }
    // Gone, or answered by the agent meanwhile (the deadline passed while the session opened).
    if (cs.closed || cs.destroyed || responded) return release();
    if (deadlineAt !== undefined) {
      const left = deadlineAt - Date.now();
      if (left <= 0) {
        release();
        return; // the deadline timer answers
      }
      // The destination gets what is left of the caller's deadline, not the whole of it again.
      out['grpc-timeout'] = formatGrpcTimeout(left);
    }
    try {
      up = session.request(out, clientEnded ? { endStream: true } : { waitForTrailers: true });
      up.once('close', release);
    } catch (e) {
      release();
      // The pooled session was going away (GOAWAY) as we asked: one more try on a new one.
      if (attempt === 0) continue;
      st.failures++;
      host.stats.h2.unavailable++;
      return answer(GRPC.UNAVAILABLE, `could not open a stream to ${dest}: ${(e as Error).message}`);
    }
  }
  const u = up;
  u.on('error', (e) => host.log?.debug('http2 upstream stream error', { dest: id, err: e.message }));

  // Request: DATA with backpressure (pipe pauses the client stream when the upstream one is not
  // writable; its window then closes), a copy of each chunk to the wiretaps, then trailers.
  if (!clientEnded) {
    cs.on('trailers', (t: IncomingHttpHeaders) => (reqTrailers = outgoing(t)));
    u.on('wantTrailers', () => {
      // close(code) ends the writable side first, which asks for trailers: sending them (even
      // none) would put END_STREAM before the RST_STREAM and make a reset look like a clean end.
      if (resetUpByUs) return;
      try {
        u.sendTrailers(reqTrailers ?? {});
      } catch {
        // reset meanwhile
      }
    });
    cs.on('data', (b: Buffer) => {
      dog.touch();
      st.bytesOut += b.length;
      copies?.data(b);
    });
    cs.once('end', () => {
      requestDone = true;
      copies?.end(reqTrailers);
    });
    cs.pipe(u);
  }

  // Response: informational heads, the final head at once (never held for DATA), then DATA and
  // trailers.
  u.on('headers', (h: IncomingHttpHeaders) => {
    try {
      cs.additionalHeaders(outgoing(h));
    } catch {
      // the client is gone; its close resets the upstream
    }
  });
  u.once('response', (h: IncomingHttpHeaders, fl: number) => {
    if (cs.closed || cs.destroyed) return;
    if (responded) return resetUp(CANCEL); // the agent answered already (deadline)
    responded = true;
    const endNow = (fl & END_STREAM) !== 0;
    try {
      cs.respond(outgoing(h), endNow ? { endStream: true } : { waitForTrailers: true });
    } catch (e) {
      host.log?.debug('http2 response refused', { dest: id, err: (e as Error).message });
      resetClient(INTERNAL_ERROR);
      return resetUp(CANCEL);
    }
    if (endNow) {
      responseDone = true;
      return stopRequestIfDone();
    }
    cs.on('wantTrailers', () => {
      if (resetClientByUs) return; // as above: a reset must not end cleanly first
      try {
        cs.sendTrailers(resTrailers ?? {});
      } catch {
        // reset meanwhile
      }
      responseDone = true;
      stopRequestIfDone();
    });
    u.on('data', (b: Buffer) => {
      dog.touch();
      st.bytesIn += b.length;
    });
    u.pipe(cs);
  });
  u.on('trailers', (t: IncomingHttpHeaders) => (resTrailers = outgoing(t)));

  u.once('close', () => {
    const code = u.rstCode;
    if (code === undefined || code === NO_ERROR) {
      upClosedClean = true;
      // Closed without an answer: the session went away under it.
      if (!responded) {
        st.failures++;
        host.stats.h2.unavailable++;
        return answer(GRPC.UNAVAILABLE, `${dest} closed the stream without answering`);
      }
      return stopRequestIfDone();
    }
    if (resetUpByUs) return;
    copies?.abort();
    if (cs.closed || cs.destroyed) return;
    const lost = session.destroyed || session.closed;
    if (lost && !responded && code !== REFUSED_STREAM) {
      // The connection to the destination died (a ping timeout, a reset socket): for the caller
      // that is UNAVAILABLE, not a stream the destination chose to reset.
      st.failures++;
      host.stats.h2.unavailable++;
      return answer(GRPC.UNAVAILABLE, `the connection to ${dest} was lost`);
    }
    host.stats.h2.resetsFromUpstream++;
    // Nothing was answered and the destination did not process it (a GOAWAY past this stream):
    // REFUSED_STREAM tells the client that a retry is safe (RFC 9113 §8.7).
    resetClient(code === REFUSED_STREAM ? REFUSED_STREAM : mapResetCode(code));
  });
}
