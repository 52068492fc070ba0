import test from 'ava';
import { createServer as createHttpServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createPortMux } from '../../../lib/manager/port-mux.js';

test('the HTTP/2 preface goes to one handler, HTTP/1 to the other, bytes intact', async (t) => {
  const seen: Array<[string, string]> = [];
  const take = (kind: string) => (s: Socket) => {
    if (kind === 'h2') s.resume();
    let data = '';
    s.on('data', (c: Buffer) => {
      data += c.toString();
      if (data.includes('\r\n\r\n')) {
        seen.push([kind, data]);
        s.end();
      }
    });
  };
  const server = createPortMux(take('h2'), take('http1'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const send = async (chunks: string[]) => {
    const c = connect(port, '127.0.0.1');
    c.resume();
    // The handler may answer and close before the last chunk's pause is over.
    const closed = new Promise((r) => c.once('close', r));
    await new Promise((r) => c.once('connect', r));
    for (const ch of chunks) {
      c.write(ch);
      await new Promise((r) => setTimeout(r, 10));
    }
    await closed;
  };
  await send(['PR', 'I * HTTP/2.0\r\n\r\nSM\r\n\r\n']);
  await send(['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.deepEqual(seen, [
    ['h2', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['http1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
  ]);
});

/** Resolves true once `s` closes, false if it has not within `ms`. */
const closesWithin = (s: Socket, ms: number) =>
  Promise.race([new Promise<boolean>((r) => s.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

test('#12 slowloris on the health side: a half-sent probe request is closed at the health budget; probes keep being answered', async (t) => {
  const health = createHttpServer((_req, res) => res.end('ok'));
  const server = createPortMux(
    (s) => s.destroy(),
    (s) => health.emit('connection', s),
    { healthTotalMs: 300 },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const slow = Array.from({ length: 20 }, () => {
    const c = connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.on('connect', () => c.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-'));
    // A trickle does not extend it: the budget is the connection's whole life.
    const drip = setInterval(() => !c.destroyed && c.write('a'), 50);
    c.once('close', () => clearInterval(drip));
    return c;
  });
  const probe = connect(port, '127.0.0.1');
  let answer = '';
  probe.on('data', (b: Buffer) => (answer += b.toString()));
  probe.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.true(await closesWithin(probe, 3000));
  t.regex(answer, /^HTTP\/1\.1 200 /);
  t.deepEqual(
    await Promise.all(slow.map((c) => closesWithin(c, 5000))),
    slow.map(() => true),
  );
});

test('#12 port mux: a connection that never sends enough to pick a protocol is closed at the sniff budget', async (t) => {
  const server = createPortMux(
    (s) => s.destroy(),
    (s) => s.destroy(),
    { sniffMs: 200 },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
  c.on('connect', () => c.write('PR'));
  t.true(await closesWithin(c, 3000));
});
