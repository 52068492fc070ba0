// A resolver to forward to, on UDP and TCP of one port: it records what it received and answers
// through a handler, so tests can check that bytes pass through unchanged. Also used by the tier-2
// child inside a network namespace.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { TYPE, buildReply, parseMessage, questionSectionEnd, type Message } from '../../../../lib/root/dns/message.js';

/** What to send back: bytes, or undefined to stay silent. */
export type UpstreamHandler = (raw: Buffer, msg: Message, transport: 'udp' | 'tcp') => Buffer | undefined;

export interface FakeUpstream {
  port: number;
  received: { raw: Buffer; transport: 'udp' | 'tcp' }[];
  sent: Buffer[];
  close(): Promise<void>;
}

export async function fakeUpstream(host: string, handler: UpstreamHandler, port = 0): Promise<FakeUpstream> {
  const received: FakeUpstream['received'] = [];
  const sent: Buffer[] = [];
  const answer = (raw: Buffer, transport: 'udp' | 'tcp') => {
    received.push({ raw: Buffer.from(raw), transport });
    let msg: Message;
    try {
      msg = parseMessage(raw);
    } catch {
      return undefined;
    }
    const out = handler(raw, msg, transport);
    if (out) sent.push(out);
    return out;
  };
  let udp: UdpSocket = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, host, () => r()));
  let actual = udp.address().port;
  const conns = new Set<Socket>();
  const tcp: Server = createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const m = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + m.length);
        const out = answer(Buffer.from(m), 'tcp');
        if (out) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        }
      }
    });
  });
  // UDP picked the port; TCP wants the same number, which a concurrent test's socket may hold:
  // with port 0, pick again.
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(actual, host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (err) {
      if (port !== 0 || attempt >= 9 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const old = udp;
      udp = createSocket('udp4');
      await new Promise<void>((r) => old.close(() => r()));
      await new Promise<void>((r) => udp.bind(0, host, () => r()));
      actual = udp.address().port;
    }
  }
  udp.on('message', (m, rinfo) => {
    const out = answer(m, 'udp');
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  return {
    port: actual,
    received,
    sent,
    async close() {
      for (const c of conns) c.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}

/**
 * The answers of a typical recursive resolver, made distinguishable from ours: AA set and a TTL of
 * 300 that our cap would have cut. `big.test` has 60 A records: truncated over UDP, whole over TCP.
 */
export const standardHandler: UpstreamHandler = (raw, msg, transport) => {
  const q = msg.questions[0];
  if (!q) return undefined;
  const name = q.name.toLowerCase();
  const qEnd = questionSectionEnd(raw);
  if (name === 'example.test' && q.type === TYPE.A) {
    const r = buildReply(raw, qEnd, { rcode: 0, answers: [{ type: TYPE.A, ttl: 300, rdata: Buffer.from([192, 0, 2, 7]) }] });
    r[2]! |= 0x04; // AA
    return r;
  }
  if (name === 'big.test' && q.type === TYPE.A) {
    const answers = Array.from({ length: 60 }, (_, i) => ({ type: TYPE.A, ttl: 300, rdata: Buffer.from([198, 51, 100, i]) }));
    return buildReply(raw, qEnd, { rcode: 0, answers, maxSize: transport === 'udp' ? 512 : 0xffff });
  }
  return buildReply(raw, qEnd, { rcode: 3 });
};
