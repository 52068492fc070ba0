// Client side of the benchmarks: opens flows either directly or through a SOCKS5 proxy (no-auth,
// CONNECT by IP or name), and measures upload/download throughput and new-flow latency.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

export interface Target {
  host: string;
  port: number;
  /** SOCKS5 proxy to go through; direct when absent. */
  socks?: { host: string; port: number };
}

async function readExactly(s: Socket, n: number): Promise<Buffer> {
  let buf = Buffer.alloc(0);
  while (buf.length < n) {
    const c = s.read() as Buffer | null;
    if (c) buf = Buffer.concat([buf, c]);
    else {
      if (s.readableEnded || s.destroyed) throw new Error('closed during SOCKS handshake');
      await once(s, 'readable');
    }
  }
  if (buf.length > n) s.unshift(buf.subarray(n));
  return buf.subarray(0, n);
}

/** A connected socket to the target (through the proxy when asked). */
export async function open(t: Target): Promise<Socket> {
  const s = connect(t.socks?.port ?? t.port, t.socks?.host ?? t.host);
  s.setNoDelay(true);
  await once(s, 'connect');
  if (!t.socks) return s;
  s.write(Buffer.from([5, 1, 0]));
  const greet = await readExactly(s, 2);
  if (greet[1] !== 0) throw new Error('SOCKS method refused');
  const name = Buffer.from(t.host);
  const req = Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([t.port >> 8, t.port & 255])]);
  s.write(req);
  const rep = await readExactly(s, 4);
  if (rep[1] !== 0) throw new Error(`SOCKS CONNECT failed with reply ${rep[1]}`);
  const rest = rep[3] === 1 ? 6 : rep[3] === 4 ? 18 : 1 + (await readExactly(s, 1))[0]! + 2;
  await readExactly(s, rest);
  return s;
}

/** Resolves once `n` bytes arrived (or the flow ended): counts, does not keep them. */
function untilReceived(s: Socket, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const done = () => {
      s.off('data', onData);
      resolve(got);
    };
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= n) done();
    };
    s.on('data', onData);
    s.once('end', done);
    s.once('error', reject);
  });
}

/** Bytes per second moving `bytes` up to the sink. */
export async function upload(t: Target, bytes: number): Promise<number> {
  const s = await open(t);
  const chunk = Buffer.alloc(256 * 1024, 97);
  const start = process.hrtime.bigint();
  s.write(`UP ${bytes}\n`);
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    left -= n;
    if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await once(s, 'drain');
  }
  await untilReceived(s, 3); // "OK\n": not 'end', since kubectl port-forward does not pass a FIN on
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  s.destroy();
  return bytes / secs;
}

/** Bytes per second moving `bytes` down from the sink. */
export async function download(t: Target, bytes: number): Promise<number> {
  const s = await open(t);
  const start = process.hrtime.bigint();
  s.write(`DOWN ${bytes}\n`);
  const got = await untilReceived(s, bytes);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  s.destroy();
  if (got !== bytes) throw new Error(`download got ${got} of ${bytes} bytes`);
  return bytes / secs;
}

/** Latency of `n` sequential new flows, each one PING/PONG: p50 and p99 in ms. */
export async function newFlowLatency(t: Target, n: number): Promise<{ p50: number; p99: number; perSecond: number }> {
  const samples: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    const s = await open(t);
    s.write('PING\n');
    await untilReceived(s, 5);
    s.destroy();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  samples.sort((a, b) => a - b);
  const pick = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { p50: pick(0.5), p99: pick(0.99), perSecond: n / total };
}

export const gbit = (bytesPerSec: number) => (bytesPerSec * 8) / 1e9;
