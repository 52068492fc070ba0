// A client inside a test namespace (started with Netns.node(url, [JSON job])): runs one job
// against the servers of servers-child.ts — through whatever route the namespace has — sends
// its result over IPC and exits. Every job is bounded in count and time.

import dgram from 'node:dgram';
import net from 'node:net';
import { download, upload } from './bulk.js';

export type Job =
  | { kind: 'upload' | 'download'; host: string; port: number; bytes: number }
  | { kind: 'connections'; host: string; port: number; count: number; concurrency: number; timeoutMs: number }
  | { kind: 'halfclose'; host: string; port: number }
  | { kind: 'refused'; host: string; port: number }
  | { kind: 'udp'; host: string; port: number; sizes: number[] }
  | { kind: 'hold'; host: string; port: number; ms: number };

function connect(host: string, port: number, opts: net.NetConnectOpts = { host, port }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ ...opts, host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** `count` connections to an echo server, at most `concurrency` in progress at once; each one
 * sends 1 KiB of its own and waits for the echo, and stays open until all are done — so with
 * concurrency = count, all of them are open at the same time. */
async function connections(job: Extract<Job, { kind: 'connections' }>) {
  const t0 = performance.now();
  const open: net.Socket[] = [];
  const failures: Record<string, number> = {};
  let ok = 0;
  let peak = 0;
  let next = 0;
  const one = async (i: number) => {
    const payload = Buffer.alloc(1024, i & 0xff);
    payload.writeUInt32BE(i, 0);
    const s = await connect(job.host, job.port);
    open.push(s);
    peak = Math.max(peak, open.length);
    const echo = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let n = 0;
      s.on('data', (d: Buffer) => {
        parts.push(d);
        n += d.length;
        if (n >= payload.length) resolve(Buffer.concat(parts));
      });
      s.once('error', reject);
      s.once('end', () => reject(new Error('EOF before echo')));
      s.write(payload);
    });
    if (!echo.equals(payload)) throw Object.assign(new Error('echo mismatch'), { code: 'MISMATCH' });
    ok++;
  };
  const worker = async () => {
    while (next < job.count) {
      const i = next++;
      try {
        await one(i);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        failures[code] = (failures[code] ?? 0) + 1;
      }
    }
  };
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), job.timeoutMs).unref());
  const res = await Promise.race([Promise.all(Array.from({ length: job.concurrency }, worker)), timeout]);
  const ms = performance.now() - t0;
  await Promise.all(open.map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()).end()))));
  return { ok, failures, peak, ms, timedOut: res === 'timeout' };
}

async function halfclose(job: Extract<Job, { kind: 'halfclose' }>) {
  const s = await connect(job.host, job.port, { host: job.host, port: job.port, allowHalfOpen: true });
  s.setEncoding('utf8');
  let reply = '';
  s.on('data', (d: string) => (reply += d));
  const ended = new Promise<void>((r, j) => s.once('end', r).once('error', j));
  s.end('hello, half-closed'); // FIN now: the server must still be able to answer
  await ended;
  s.destroy();
  return { reply: JSON.parse(reply) as { bytes: number; sha256: string } };
}

async function refused(job: Extract<Job, { kind: 'refused' }>) {
  const t0 = performance.now();
  try {
    const s = await connect(job.host, job.port);
    s.destroy();
    return { code: 'CONNECTED', ms: performance.now() - t0 };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err), ms: performance.now() - t0 };
  }
}

/** One datagram at a time, each retried up to 3 times (UDP may lose); counts exact echoes. */
async function udp(job: Extract<Job, { kind: 'udp' }>) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.connect(job.port, job.host, r));
  let echoed = 0;
  let retries = 0;
  for (const [i, size] of job.sizes.entries()) {
    const payload = Buffer.alloc(size, i & 0xff);
    if (size >= 4) payload.writeUInt32BE(i, 0);
    for (let attempt = 0; attempt < 3; attempt++) {
      const got = await new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => done(null), 1000);
        const onMsg = (m: Buffer) => done(m);
        const done = (m: Buffer | null) => {
          clearTimeout(timer);
          sock.off('message', onMsg);
          resolve(m);
        };
        sock.on('message', onMsg);
        sock.send(payload);
      });
      if (got?.equals(payload)) {
        echoed++;
        break;
      }
      retries++;
    }
  }
  sock.close();
  return { sent: job.sizes.length, echoed, retries };
}

/** An established connection that stays silent for `ms`, then checks it still echoes. */
async function hold(job: Extract<Job, { kind: 'hold' }>) {
  const s = await connect(job.host, job.port);
  const echo = (b: string) =>
    new Promise<string>((resolve, reject) => {
      s.once('data', (d: Buffer) => resolve(d.toString()));
      s.once('error', reject);
      s.write(b);
    });
  const first = await echo('a');
  process.send!({ holding: true });
  await new Promise((r) => setTimeout(r, job.ms));
  const second = await echo('b');
  s.destroy();
  return { first, second };
}

async function run(job: Job): Promise<unknown> {
  switch (job.kind) {
    case 'upload':
      return upload(job.host, job.port, job.bytes);
    case 'download':
      return download(job.host, job.port, job.bytes);
    case 'connections':
      return connections(job);
    case 'halfclose':
      return halfclose(job);
    case 'refused':
      return refused(job);
    case 'udp':
      return udp(job);
    case 'hold':
      return hold(job);
  }
}

const job = JSON.parse(process.argv[2]!) as Job;
run(job).then(
  (result) => process.send!({ result }, () => process.exit(0)),
  (err: Error) => process.send!({ error: `${(err as { code?: string }).code ?? ''} ${err.stack ?? err.message}` }, () => process.exit(1)),
);
