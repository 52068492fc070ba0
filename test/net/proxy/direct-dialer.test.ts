import test from 'ava';
import { DialError } from '../../../lib/proxy/dialer.js';
import { DirectDialer } from '../../../lib/proxy/direct-dialer.js';
import { closedPort, echoTarget, readAll, udpEcho, within } from './tunnel/harness.js';

test('dialTcp: connects, half-closes, and keeps the socket half-open for the reply', async (t) => {
  const echo = await echoTarget();
  const sock = await new DirectDialer().dialTcp('127.0.0.1', echo.port);
  const got = readAll(sock);
  sock.end('direct');
  t.is((await within(got, 5000, 'echo')).toString(), 'direct');
  await echo.close();
});

test('dialTcp: a closed port is refused', async (t) => {
  const err = await t.throwsAsync(new DirectDialer().dialTcp('127.0.0.1', await closedPort()));
  t.true(err instanceof DialError);
  t.like(err, { failure: 'refused' });
});

test('dialTcp: an unresolvable name is nxdomain', async (t) => {
  const err = await t.throwsAsync(new DirectDialer().dialTcp('no-such-host.invalid', 80));
  t.like(err, { failure: 'nxdomain' });
});

test('dialTcp: a signal that timed out is a timeout, any other abort is other', async (t) => {
  const echo = await echoTarget();
  const d = new DirectDialer();
  const timedOut = AbortSignal.abort(new DOMException('late', 'TimeoutError'));
  t.like(await t.throwsAsync(d.dialTcp('127.0.0.1', echo.port, timedOut)), { failure: 'timeout' });
  t.like(await t.throwsAsync(d.dialTcp('127.0.0.1', echo.port, AbortSignal.abort())), { failure: 'other' });
  await echo.close();
});

test('dialUdp: echoes datagrams and closes when idle', async (t) => {
  const echo = await udpEcho();
  const flow = await new DirectDialer({ udpIdleMs: 200 }).dialUdp('127.0.0.1', echo.port);
  const got = new Promise<string>((r) => flow.onDatagram((p) => r(p.toString())));
  t.true(flow.send(Buffer.from('dgram')));
  t.is(await within(got, 5000, 'udp echo'), 'dgram');
  await within(flow.closed, 3000, 'idle expiry');
  t.false(flow.send(Buffer.from('late')));
  echo.close();
});
