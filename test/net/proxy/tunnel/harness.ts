// Loopback fixtures for tunnel tests: a tunnel server with a DirectDialer, a client connected to it,
// and small TCP/UDP targets. Everything binds 127.0.0.1 on an ephemeral port.

import dgram from 'node:dgram';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { DirectDialer } from '../../../../lib/proxy/direct-dialer.js';
import { TunnelClient, type TunnelClientOptions } from '../../../../lib/proxy/tunnel/client.js';
import { TunnelServer, type TunnelServerOptions } from '../../../../lib/proxy/tunnel/server.js';
import type { NoApi } from '../../../../lib/proxy/tunnel/protocol.js';

export interface Tunnel {
  server: TunnelServer;
  client: TunnelClient;
  port: number;
  close(): Promise<void>;
}

export async function tunnel(
  serverOpts: TunnelServerOptions<NoApi, unknown> = {},
  clientOpts: Partial<TunnelClientOptions> = {},
): Promise<Tunnel> {
  const server = new TunnelServer({ dialer: new DirectDialer({ connectTimeoutMs: 2000 }), ...serverOpts });
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await TunnelClient.connect({ host: '127.0.0.1', port, ...clientOpts });
  return {
    server,
    client,
    port,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** A TCP server on loopback; `onConn` gets each accepted socket (half-open allowed). close()
 * destroys what is still open: a half-open socket would otherwise hold server.close() forever. */
export async function tcpTarget(onConn: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        for (const s of open) s.destroy();
      }),
  };
}

export const echoTarget = () => tcpTarget((s) => s.pipe(s));

/** A UDP echo server on loopback. */
export async function udpEcho(): Promise<{ port: number; close(): void }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, rinfo) => s.send(m, rinfo.port, rinfo.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => s.close() };
}

/** Reads a Duplex to its end. */
export function readAll(d: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    d.on('data', (c: Buffer) => chunks.push(c));
    d.once('end', () => resolve(Buffer.concat(chunks)));
    d.once('error', reject);
  });
}

/** A port on loopback that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Rejects if p does not settle within ms: every wait in these tests is bounded. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]);
}

/** Starts server-child.js; resolves with its port, a memory probe and a stop function. */
export async function childServer(): Promise<{
  port: number;
  mem(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}> {
  const { fork } = await import('node:child_process');
  const child = fork(new URL('./server-child.js', import.meta.url), [], { execArgv: ['--expose-gc'] });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    }),
    10_000,
    'server child start',
  );
  return {
    port,
    mem: () =>
      within(
        new Promise((resolve) => {
          child.once('message', (m: { mem: NodeJS.MemoryUsage }) => resolve(m.mem));
          child.send({ cmd: 'mem' });
        }),
        5000,
        'child mem',
      ),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
