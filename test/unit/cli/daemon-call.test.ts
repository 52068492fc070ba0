// #14: the CLI's HTTP/1.0 client for the user daemon (lib/cli/daemon-call.ts) against the
// daemons' real server (unixServe) on a unix socket: the same answers and errors as unixCall.
import test from 'ava';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonCallError } from '../../../lib/common/rpc/daemon.js';
import { unixCall, unixServe, type Dispatch } from '../../../lib/common/rpc/unix-http.js';
import { daemonCall, readAnswer } from '../../../lib/cli/daemon-call.js';

const dir = mkdtempSync(join(tmpdir(), 'tp-daemon-call-'));
const servers: Array<{ close(): unknown }> = [];
let n = 0;
test.after.always(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(dispatch: Dispatch): Promise<string> {
  const path = join(dir, `d${n++}.sock`);
  const server: Server = await unixServe(path, dispatch, () => {});
  servers.push(server);
  return path;
}

const echo: Dispatch = async (method, body) => {
  if (method === 'fail')
    throw Object.assign(new DaemonCallError('E_NOT_CONNECTED', 'tp is not connected to a cluster', 'run `tp connect` first'), {
      detail: 'a stack',
    });
  if (method === 'boom') throw new Error('library text');
  if (method === 'slow') return new Promise(() => {});
  if (method === 'big') return { text: 'é'.repeat(600_000) };
  return { method, body };
};

test("#14: a 200 answer is the dispatcher's result, the request body arrives as sent (UTF-8)", async (t) => {
  const path = await serve(echo);
  const body = { name: 'wörkload ✓', n: [1, 2] };
  t.deepEqual(await daemonCall(path, 'status', body, 5_000, 'user daemon'), { method: 'status', body });
  t.deepEqual(await daemonCall(path, 'status', body, 5_000, 'user daemon'), await unixCall(path, 'status', body, 5_000, 'user daemon'));
});

test('#14: an answer far larger than one read arrives whole', async (t) => {
  const path = await serve(echo);
  const r = await daemonCall<{ text: string }>(path, 'big', {}, 5_000, 'user daemon');
  t.is(r.text.length, 600_000);
  t.is(r.text, 'é'.repeat(600_000));
});

test("#14: the daemon's error arrives as a DaemonCallError with its code, sentence, hint and detail, as unixCall gives it", async (t) => {
  const path = await serve(echo);
  const e = await t.throwsAsync(daemonCall(path, 'fail', {}, 5_000, 'user daemon'), { instanceOf: DaemonCallError });
  const u = await t.throwsAsync(unixCall(path, 'fail', {}, 5_000, 'user daemon'), { instanceOf: DaemonCallError });
  for (const x of [e, u])
    t.like(x, { code: 'E_NOT_CONNECTED', message: 'tp is not connected to a cluster', hint: 'run `tp connect` first', detail: 'a stack' });
  const bug = await t.throwsAsync(daemonCall(path, 'boom', {}, 5_000, 'user daemon'), { instanceOf: DaemonCallError });
  t.is((bug as DaemonCallError).code, 'E_INTERNAL');
});

test('#14: a daemon that does not answer in time is E_TIMEOUT naming the call', async (t) => {
  const path = await serve(echo);
  const e = await t.throwsAsync(daemonCall(path, 'slow', {}, 200, 'user daemon'), { instanceOf: DaemonCallError });
  t.is((e as DaemonCallError).code, 'E_TIMEOUT');
  t.is(e!.message, 'the user daemon did not answer slow within 0.2 s');
});

test('#17: no daemon is E_NOT_RUNNING naming the socket, decided where the socket is dialled (no file: ENOENT; a file nobody listens on: ECONNREFUSED); the errno stays the cause', async (t) => {
  const none = join(dir, 'none.sock');
  const e = await t.throwsAsync(daemonCall(none, 'status', {}, 1_000, 'user daemon'), { instanceOf: DaemonCallError });
  t.like(e, { code: 'E_NOT_RUNNING', message: `the user daemon is not running (nothing listens on ${none})`, hint: 'run `tp connect`' });
  t.like((e as DaemonCallError).cause as NodeJS.ErrnoException, { code: 'ENOENT', syscall: 'connect' });
  const stale = join(dir, 'stale.sock');
  writeFileSync(stale, ''); // connect(2) to a path that is no listening socket: ECONNREFUSED
  const refused = await t.throwsAsync(daemonCall(stale, 'status', {}, 1_000, 'user daemon'), { instanceOf: DaemonCallError });
  t.like(refused, { code: 'E_NOT_RUNNING', message: `the user daemon is not running (nothing listens on ${stale})` });
  t.like((refused as DaemonCallError).cause as NodeJS.ErrnoException, { code: 'ECONNREFUSED', syscall: 'connect' });
  // The daemons' own client (user daemon → root daemon) reads the same socket errors the same way.
  const viaHttp = await t.throwsAsync(unixCall(none, 'status', {}, 1_000, 'root daemon'), { instanceOf: DaemonCallError });
  t.like(viaHttp, { code: 'E_NOT_RUNNING', message: `the root daemon is not running (nothing listens on ${none})` });
});

test('#14: something on the socket that is not the daemon, or an answer cut short, is E_DAEMON, not a crash', async (t) => {
  const path = join(dir, `raw${n++}.sock`);
  const raw = createNetServer((s) => s.end('hello\n'));
  servers.push(raw);
  await new Promise<void>((r) => raw.listen(path, r));
  const e = await t.throwsAsync(daemonCall(path, 'status', {}, 1_000, 'user daemon'), { instanceOf: DaemonCallError });
  t.like(e, { code: 'E_DAEMON', message: 'the user daemon sent an unreadable answer (no HTTP head)' });
  const cut = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"a":');
  t.throws(() => readAnswer(cut, 'user daemon'), {
    instanceOf: DaemonCallError,
    message: 'the user daemon sent an unreadable answer (HTTP 200)',
  });
  const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  t.throws(() => readAnswer(chunked, 'user daemon'), { instanceOf: DaemonCallError });
  t.deepEqual(readAnswer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a":12}'), 'user daemon'), { a: 12 });
});
