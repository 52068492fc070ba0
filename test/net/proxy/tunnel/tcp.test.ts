import test from 'ava';
import net from 'node:net';
import type { ClientHttp2Stream } from 'node:http2';
import { DialError } from '../../../../lib/proxy/dialer.js';
import { closedPort, echoTarget, readAll, sleep, tcpTarget, tunnel, within } from './harness.js';

test('TCP flow: bytes written through CONNECT come back from an echo target', async (t) => {
  const tn = await tunnel();
  const echo = await echoTarget();
  const flow = await tn.client.dialTcp('127.0.0.1', echo.port);
  const got = readAll(flow);
  flow.end('hello through the tunnel');
  t.is((await within(got, 5000, 'echo')).toString(), 'hello through the tunnel');
  t.is(tn.server.stats.tcpFlows, 1);
  await tn.close();
  await echo.close();
});

test('TCP flow: IPv6 loopback targets work', async (t) => {
  const tn = await tunnel();
  const srv = net.createServer((s) => s.end('v6'));
  await new Promise<void>((r) => srv.listen(0, '::1', r));
  const flow = await tn.client.dialTcp('::1', (srv.address() as net.AddressInfo).port);
  flow.end();
  t.is((await within(readAll(flow), 5000, 'v6')).toString(), 'v6');
  await tn.close();
  srv.close();
});

test('TCP flow: half-close keeps the other direction open (END_STREAM ↔ FIN)', async (t) => {
  const tn = await tunnel();
  let targetSawEnd!: () => void;
  const sawEnd = new Promise<void>((r) => (targetSawEnd = r));
  const target = await tcpTarget((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    // Answer only after the client's FIN: proves the FIN arrived and our side stayed writable.
    s.on('end', async () => {
      targetSawEnd();
      await sleep(50);
      s.end(`got ${Buffer.concat(chunks).length} bytes`);
    });
  });
  const flow = await tn.client.dialTcp('127.0.0.1', target.port);
  const got = readAll(flow);
  flow.end(Buffer.alloc(1000));
  await within(sawEnd, 5000, 'target FIN');
  t.is((await within(got, 5000, 'reply after FIN')).toString(), 'got 1000 bytes');
  await within(new Promise((r) => flow.once('close', r)), 5000, 'stream close');
  t.is((flow as ClientHttp2Stream).rstCode, 0, 'closed normally, not reset');
  await tn.close();
  await target.close();
});

test('TCP flow: a target reset becomes RST_STREAM at the client', async (t) => {
  const tn = await tunnel();
  const target = await tcpTarget((s) => s.once('data', () => s.resetAndDestroy()));
  const flow = (await tn.client.dialTcp('127.0.0.1', target.port)) as ClientHttp2Stream;
  flow.write('poke');
  await within(new Promise((r) => flow.once('close', r)), 5000, 'reset');
  t.not(flow.rstCode, 0);
  await tn.close();
  await target.close();
});

test('TCP flow: destroying the client stream resets the target socket', async (t) => {
  const tn = await tunnel();
  let targetClosed!: (e: string) => void;
  const closed = new Promise<string>((r) => (targetClosed = r));
  const target = await tcpTarget((s) => {
    s.on('error', (e: NodeJS.ErrnoException) => targetClosed(e.code ?? 'error'));
    s.on('end', () => targetClosed('FIN'));
    s.resume(); // a reset is only noticed by a socket that reads
  });
  const flow = await tn.client.dialTcp('127.0.0.1', target.port);
  flow.write('x');
  await sleep(50);
  flow.destroy();
  t.is(await within(closed, 5000, 'target reset'), 'ECONNRESET');
  await tn.close();
  await target.close();
});

test('refused target: dialTcp rejects with DialError refused', async (t) => {
  const tn = await tunnel();
  const port = await closedPort();
  const err = await t.throwsAsync(tn.client.dialTcp('127.0.0.1', port));
  t.true(err instanceof DialError);
  t.is((err as DialError).failure, 'refused');
  t.regex(err!.message, /ECONNREFUSED/);
  t.is(tn.server.stats.dialFailures, 1);
  await tn.close();
});

test('unresolvable name: dialTcp rejects with DialError nxdomain', async (t) => {
  const tn = await tunnel();
  const err = await t.throwsAsync(tn.client.dialTcp('no-such-host.invalid', 80));
  t.is((err as DialError).failure, 'nxdomain');
  await tn.close();
});

test('a server without a dialer answers 403: DialError forbidden', async (t) => {
  const tn = await tunnel({ dialer: undefined });
  const err = await t.throwsAsync(tn.client.dialTcp('127.0.0.1', 9));
  t.is((err as DialError).failure, 'forbidden');
  await tn.close();
});

test('an aborted dial rejects and the server drops the late connection', async (t) => {
  // A dialer that never answers until its signal aborts.
  let sawAbort = false;
  const tn = await tunnel({
    dialer: {
      dialTcp: (_h: string, _p: number, signal?: AbortSignal) =>
        new Promise((_, reject) => signal?.addEventListener('abort', () => ((sawAbort = true), reject(new Error('aborted'))))),
      dialUdp: () => Promise.reject(new Error('no')),
    },
  });
  const err = await t.throwsAsync(tn.client.dialTcp('10.0.0.1', 80, AbortSignal.timeout(100)));
  t.is((err as DialError).failure, 'timeout');
  await within(
    (async () => {
      while (!sawAbort) await sleep(10);
    })(),
    5000,
    'server-side abort',
  );
  t.true(sawAbort);
  await tn.close();
});

test('1,000 concurrent flows each exchange a small payload', async (t) => {
  const tn = await tunnel();
  const echo = await echoTarget();
  const N = 1000;
  const started = Date.now();
  const results = await within(
    Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const flow = await tn.client.dialTcp('127.0.0.1', echo.port);
        const got = readAll(flow);
        flow.end(`flow ${i} `.repeat(10));
        return (await got).toString() === `flow ${i} `.repeat(10);
      }),
    ),
    60_000,
    '1000 flows',
  );
  t.is(results.filter(Boolean).length, N);
  t.is(tn.server.stats.tcpFlows, N);
  t.log(`${N} flows in ${Date.now() - started} ms`);
  await tn.close();
  await echo.close();
});
