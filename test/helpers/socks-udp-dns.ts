// A DNS query sent through a SOCKS5 proxy's UDP ASSOCIATE (RFC 1928 §7), as a command:
//   node socks-udp-dns.js PROXY_HOST PROXY_PORT DNS_SERVER NAME
// prints {"rcode":N,"addresses":[...]} — tests run it inside a workstation namespace.
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

function dnsQuery(name: string, id: number): Buffer {
  const labels = name
    .split('.')
    .filter(Boolean)
    .flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

function parseAnswers(msg: Buffer): { rcode: number; addresses: string[] } {
  const rcode = msg[3]! & 15;
  const an = msg.readUInt16BE(6);
  let off = 12;
  const skipName = () => {
    for (;;) {
      const len = msg[off]!;
      if (len === 0) return void (off += 1);
      if ((len & 0xc0) === 0xc0) return void (off += 2);
      off += len + 1;
    }
  };
  skipName();
  off += 4; // QTYPE, QCLASS
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    skipName();
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (type === 1 && rdlen === 4) addresses.push([...msg.subarray(off + 10, off + 14)].join('.'));
    off += 10 + rdlen;
  }
  return { rcode, addresses };
}

async function main(): Promise<void> {
  const [proxyHost, proxyPort, server, name] = process.argv.slice(2) as [string, string, string, string];
  const tcp = connect(Number(proxyPort), proxyHost);
  await once(tcp, 'connect');
  const read = async (n: number): Promise<Buffer> => {
    let buf = Buffer.alloc(0);
    while (buf.length < n) {
      const chunk = tcp.read() as Buffer | null;
      if (chunk) buf = Buffer.concat([buf, chunk]);
      else await once(tcp, 'readable');
    }
    if (buf.length > n) tcp.unshift(buf.subarray(n));
    return buf.subarray(0, n);
  };
  tcp.write(Buffer.from([5, 1, 0]));
  const greet = await read(2);
  if (greet[1] !== 0) throw new Error(`method refused: ${greet[1]}`);
  tcp.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
  const rep = await read(10);
  if (rep[1] !== 0) throw new Error(`UDP ASSOCIATE refused: reply ${rep[1]}`);
  const relayIp = [...rep.subarray(4, 8)].join('.');
  const relayPort = rep.readUInt16BE(8);
  const udp = createSocket('udp4');
  const ip = server.split('.').map(Number);
  const header = Buffer.from([0, 0, 0, 1, ...ip, 0, 53]);
  udp.send(Buffer.concat([header, dnsQuery(name, 0x1234)]), relayPort, relayIp === '0.0.0.0' ? proxyHost : relayIp);
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ error: 'no answer within 5 s' }));
    process.exit(1);
  }, 5000);
  const [msg] = (await once(udp, 'message')) as [Buffer];
  clearTimeout(timer);
  console.log(JSON.stringify(parseAnswers(msg.subarray(10))));
  udp.close();
  tcp.destroy();
}

main().catch((err) => {
  console.log(JSON.stringify({ error: (err as Error).message }));
  process.exit(1);
});
