// The targets of bench/vif, inside a namespace (Netns.node(url, [host])): a tiny HTTP server
// (8080, GET / → "hello from tp\n") and a TCP echo server (7003) that also holds idle flows.
// Sends { ready } over IPC once both listen; exits when the parent leaves.
import http from 'node:http';
import net from 'node:net';
import { ECHO_PORT, HTTP_PORT } from './vif-ports.js';

const host = process.argv[2] ?? '127.0.0.1';
const listen = (srv: net.Server, port: number) =>
  new Promise<void>((resolve, reject) => srv.once('error', reject).listen({ port, host, backlog: 4096 }, resolve));

const web = http.createServer((req, res) => {
  if (req.url === '/') res.end('hello from tp\n');
  else res.writeHead(404).end();
});
web.on('connection', (s: net.Socket) => s.setNoDelay(true));
web.keepAliveTimeout = 10_000;
web.maxRequestsPerSocket = 0;

const echo = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  s.pipe(s);
});

await Promise.all([listen(web, HTTP_PORT), listen(echo, ECHO_PORT)]);
process.send?.({ ready: true, pid: process.pid });
process.on('disconnect', () => process.exit(0));
