import test from 'ava';
import { DialError } from '../../../../lib/proxy/dialer.js';
import { sleep, tunnel, udpEcho, within } from './harness.js';

test('connect-udp: datagrams round-trip through an echo target, boundaries intact', async (t) => {
  const tn = await tunnel();
  const echo = await udpEcho();
  const flow = await tn.client.dialUdp('127.0.0.1', echo.port);
  const got: string[] = [];
  flow.onDatagram((p) => got.push(p.toString()));
  const sent = ['one', 'two', 'x'.repeat(1400), ''];
  for (const m of sent) t.true(flow.send(Buffer.from(m)));
  await within(
    (async () => {
      while (got.length < sent.length) await sleep(10);
    })(),
    5000,
    'echoes',
  );
  t.deepEqual([...got].sort(), [...sent].sort()); // UDP may reorder; it must not merge or split
  t.is(tn.server.stats.udpFlows, 1);
  flow.close();
  await within(flow.closed, 2000, 'close');
  await tn.close();
  echo.close();
});

test('connect-udp: IPv6 targets travel percent-encoded in the path', async (t) => {
  const tn = await tunnel();
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp6');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '::1', r));
  const flow = await tn.client.dialUdp('::1', s.address().port);
  const got = new Promise<string>((r) => flow.onDatagram((p) => r(p.toString())));
  flow.send(Buffer.from('v6'));
  t.is(await within(got, 5000, 'v6 echo'), 'v6');
  flow.close();
  await tn.close();
  s.close();
});

test('connect-udp: an idle flow closes after the timeout', async (t) => {
  const tn = await tunnel({ udpIdleMs: 200 });
  const echo = await udpEcho();
  const flow = await tn.client.dialUdp('127.0.0.1', echo.port);
  const t0 = Date.now();
  await within(flow.closed, 3000, 'idle close');
  t.true(Date.now() - t0 >= 150);
  t.false(flow.send(Buffer.from('late')), 'a closed flow drops');
  await tn.close();
  echo.close();
});

test('connect-udp: an unresolvable name is DialError nxdomain', async (t) => {
  const tn = await tunnel();
  const err = await t.throwsAsync(tn.client.dialUdp('no-such-host.invalid', 53));
  t.true(err instanceof DialError);
  t.is((err as DialError).failure, 'nxdomain');
  await tn.close();
});
