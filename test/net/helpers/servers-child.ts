// Servers on 127.0.0.1 inside a test namespace (started with Netns.node()): the "cluster" that
// flows through the stack reach. Fixed ports — the namespace is the test's own.
//   8080 HTTP: GET / → "hello from tp\n"
//   7001 sink, 7002 source (see bulk.ts); 7003 TCP echo; 7004 UDP echo
// Sends { ready: true } over IPC once all listen; exits when the parent disconnects.

import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { serveSink, serveSource } from './bulk.js';
import { PORTS } from './ports.js';

function listen(srv: net.Server, port: number): Promise<void> {
  // A deep backlog: the 1,000-connection test dials all of them at once.
  return new Promise((resolve, reject) => srv.once('error', reject).listen({ port, host: '127.0.0.1', backlog: 4096 }, resolve));
}

const tcp = (handler: (s: net.Socket) => void) =>
  net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => {});
    handler(s);
  });

const web = http.createServer((req, res) => {
  if (req.url === '/') res.end('hello from tp\n');
  else res.writeHead(404).end();
});
web.keepAliveTimeout = 1000;

const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => udp.send(m, r.port, r.address));

await Promise.all([
  listen(web, PORTS.http),
  listen(tcp(serveSink), PORTS.sink),
  listen(tcp(serveSource), PORTS.source),
  listen(
    tcp((s) => s.pipe(s)),
    PORTS.echo,
  ),
  new Promise<void>((r) => udp.bind(PORTS.udpEcho, '127.0.0.1', r)),
]);
process.send?.({ ready: true });
process.on('disconnect', () => process.exit(0));
