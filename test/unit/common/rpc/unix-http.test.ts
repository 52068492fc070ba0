// #12: the user and root daemons' unix sockets keep their budgets: a request that does not arrive
// in time is cut, connections are capped, and calls keep working meanwhile.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_UNIX_BUDGETS, unixCall, unixServe, type UnixServeBudgets } from '../../../../lib/common/rpc/unix-http.js';
import { HTTP_HEAD_TIMEOUT_MS } from '../../../../lib/common/limits.js';
import { closedWithin } from '../../../helpers/socket-closed.js';

async function serve(t: ExecutionContext, budgets: Partial<UnixServeBudgets>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-unix-'));
  const path = join(dir, 'd.sock');
  const server: Server = await unixServe(
    path,
    async (method, body) => ({ method, body }),
    () => {},
    0o600,
    budgets,
  );
  t.teardown(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

/** Connect, send `bytes`; resolves with what came back and whether the daemon closed within `ms`. */
async function hold(path: string, bytes: string, ms: number, trickle = false) {
  const s = connect(path);
  s.on('error', () => {});
  await once(s, 'connect');
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString()));
  if (bytes) s.write(bytes);
  const drip = trickle ? setInterval(() => !s.destroyed && s.write('a'), 50) : undefined;
  const closed = await closedWithin(s, ms);
  clearInterval(drip);
  s.destroy();
  return { closed, got };
}

test('#12 daemon socket: a half-sent request head is closed at the head budget while calls keep working', async (t) => {
  // Budgets well above what a loaded CI machine needs for a real call (the call must not be cut),
  // well below the hold, so only the trickling peer runs out.
  const path = await serve(t, { headMs: 2000, requestMs: 2000, checkMs: 50 });
  const slow = hold(path, 'POST /v1/status HTTP/1.1\r\nHost: x\r\nX-', 10_000, true);
  t.deepEqual(await unixCall(path, 'status', { a: 1 }, 3000, 'daemon'), { method: 'status', body: { a: 1 } });
  const r = await slow;
  t.true(r.closed);
  // Node's server writes its 408 and destroys the socket; with the trickler's bytes still unread
  // the kernel resets the connection, and a reset may discard the 408 before the peer reads it.
  // The promise is the close; the 408, when it arrives, must be the whole answer.
  if (r.got !== '') t.regex(r.got, /^HTTP\/1\.1 408 /);
});

test('#12 daemon socket: a body that stops arriving is cut at the request budget', async (t) => {
  const path = await serve(t, { headMs: 2000, requestMs: 2000, checkMs: 50 });
  const r = await hold(path, 'POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":', 10_000);
  t.true(r.closed);
});

test('#12 daemon socket: connections past maxConnections are closed at once', async (t) => {
  const path = await serve(t, { maxConnections: 3 });
  const held = await Promise.all(
    [0, 1, 2].map(async () => {
      const s = connect(path);
      s.on('error', () => {});
      await once(s, 'connect');
      return s;
    }),
  );
  t.teardown(() => held.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 50));
  t.true((await hold(path, '', 3000)).closed);
});

test('#12 daemon socket: the default head budget is the named 30 s limit', (t) => {
  t.is(DEFAULT_UNIX_BUDGETS.headMs, HTTP_HEAD_TIMEOUT_MS);
});
