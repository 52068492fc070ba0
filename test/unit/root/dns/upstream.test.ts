import test from 'ava';
import { createSocket } from 'node:dgram';
import { TYPE, buildQuery, buildReply, parseMessage, questionSectionEnd } from '../../../../lib/root/dns/message.js';
import { Forwarder, parseUpstream } from '../../../../lib/root/dns/upstream.js';

test('parseUpstream: ip, ip:port, bare IPv6 and [IPv6]:port; 53 by default', (t) => {
  t.deepEqual(parseUpstream('10.0.0.2'), { host: '10.0.0.2', port: 53 });
  t.deepEqual(parseUpstream('10.0.0.2:5353'), { host: '10.0.0.2', port: 5353 });
  t.deepEqual(parseUpstream('fd00::53'), { host: 'fd00::53', port: 53 });
  t.deepEqual(parseUpstream('[fd00::53]:5353'), { host: 'fd00::53', port: 5353 });
  for (const bad of ['dns.example', '10.0.0.2:0', '10.0.0.2:99999', '[fd00::53]:x', '']) t.throws(() => parseUpstream(bad), undefined, bad);
});

test('an answer with another ID (a late or spoofed one) is ignored; the matching one is taken', async (t) => {
  const up = createSocket('udp4');
  await new Promise<void>((r) => up.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => up.close());
  up.on('message', (q, rinfo) => {
    const good = buildReply(q, questionSectionEnd(q), {
      rcode: 0,
      answers: [{ type: TYPE.A, ttl: 60, rdata: Buffer.from([192, 0, 2, 1]) }],
    });
    const wrongId = Buffer.from(good);
    wrongId.writeUInt16BE((q.readUInt16BE(0) + 1) & 0xffff, 0);
    const otherQuestion = buildReply(
      buildQuery(q.readUInt16BE(0), 'other.test', TYPE.A),
      questionSectionEnd(buildQuery(0, 'other.test', TYPE.A)),
      { rcode: 3 },
    );
    up.send(wrongId, rinfo.port, rinfo.address);
    up.send(otherQuestion, rinfo.port, rinfo.address);
    setTimeout(() => up.send(good, rinfo.port, rinfo.address), 20);
  });
  const f = new Forwarder([{ host: '127.0.0.1', port: up.address().port }], 1000);
  const a = await f.forward(buildQuery(0x5555, 'example.test', TYPE.A), 512);
  t.truthy(a);
  const m = parseMessage(a!);
  t.is(m.id, 0x5555);
  t.is(m.answers.length, 1);
  t.is(f.stats.mismatched, 2);
});

test('the upstream sees a fresh random ID, not the client’s', async (t) => {
  const up = createSocket('udp4');
  await new Promise<void>((r) => up.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => up.close());
  const seen: number[] = [];
  up.on('message', (q, rinfo) => {
    seen.push(q.readUInt16BE(0));
    up.send(buildReply(q, questionSectionEnd(q), { rcode: 3 }), rinfo.port, rinfo.address);
  });
  const f = new Forwarder([{ host: '127.0.0.1', port: up.address().port }], 1000);
  for (let i = 0; i < 8; i++) await f.forward(buildQuery(1, 'x.test', TYPE.A), 512);
  t.true(new Set(seen).size > 1, `IDs ${seen.join(',')}`);
});
