// The measuring client of bench/vif, inside the bench's namespace (Netns.node(url, [JSON job])):
// runs one bounded job against vif-servers.ts through whatever route the namespace has, sends
// { result } (or { error }) over IPC and exits.
//   http   N sequential GET / — each on a new connection, or all on one keep-alive connection;
//          latency from connect() (or from the write, on keep-alive) to the whole response
//   cps    `count` new connections, `concurrency` at a time, each one GET / then close
//   bulk   up and down `bytes` through the sink, and new-flow latency, directly or via SOCKS5
//   idle   `count` connections to the echo server opened in batches of `batch` (each checked
//          with a 1-byte echo), then { holding } and held until { cmd: 'close' }

import net from 'node:net';
import { download, gbit, newFlowLatency, upload, type Target } from './measure.js';

export type ClientJob =
  | { kind: 'http'; host: string; port: number; n: number; keepAlive: boolean }
  | { kind: 'cps'; host: string; port: number; count: number; concurrency: number }
  | { kind: 'idle'; host: string; port: number; count: number; batch: number; timeoutMs: number }
  | { kind: 'bulk'; target: Target; bytes: number; flows: number };

/** A bulk job's result: the same client code for every path (direct, tp, a SOCKS peer). */
export interface BulkResult {
  upGbit: number;
  downGbit: number;
  newFlowP50: number;
}

export interface HttpResult {
  p50: number;
  p99: number;
  perSecond: number;
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends one GET and resolves once the whole response (headers + Content-Length body) arrived. */
function get(s: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      if (buf.length < end + 4 + Number(m?.[1] ?? 0)) return;
      done();
      resolve();
    };
    const onEnd = () => {
      done();
      reject(new Error('connection ended before the response'));
    };
    const done = () => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onEnd);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', onEnd);
    s.write(REQUEST);
  });
}

const pick = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function http(job: Extract<ClientJob, { kind: 'http' }>): Promise<HttpResult> {
  const samples: number[] = [];
  const t0 = performance.now();
  if (job.keepAlive) {
    const s = await connect(job.host, job.port);
    for (let i = 0; i < job.n; i++) {
      const a = performance.now();
      await get(s);
      samples.push(performance.now() - a);
    }
    s.destroy();
  } else {
    for (let i = 0; i < job.n; i++) {
      const a = performance.now();
      const s = await connect(job.host, job.port);
      await get(s);
      samples.push(performance.now() - a);
      s.destroy();
    }
  }
  const secs = (performance.now() - t0) / 1000;
  samples.sort((x, y) => x - y);
  return { p50: pick(samples, 0.5), p99: pick(samples, 0.99), perSecond: job.n / secs };
}

async function cps(job: Extract<ClientJob, { kind: 'cps' }>) {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < job.count) {
      next++;
      try {
        const s = await connect(job.host, job.port);
        await get(s);
        s.destroy();
        ok++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  return { ok, failed, perSecond: ok / secs };
}

async function idle(job: Extract<ClientJob, { kind: 'idle' }>) {
  const open: net.Socket[] = [];
  let failed = 0;
  const t0 = performance.now();
  const one = async () => {
    const s = await connect(job.host, job.port);
    s.on('error', () => {});
    open.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('data', () => resolve());
      s.once('end', () => reject(new Error('EOF before echo')));
      s.write('x');
    });
  };
  const deadline = t0 + job.timeoutMs;
  for (let i = 0; i < job.count && performance.now() < deadline; i += job.batch) {
    const n = Math.min(job.batch, job.count - i);
    const rs = await Promise.allSettled(Array.from({ length: n }, one));
    failed += rs.filter((r) => r.status === 'rejected').length;
  }
  const openMs = performance.now() - t0;
  process.send!({ holding: open.length, failed, openMs });
  await new Promise<void>((r) => process.once('message', () => r()));
  for (const s of open) s.destroy();
  return { held: open.length, failed, openMs };
}

/** Up and down through the sink (bench/lib/sink.ts) and sequential new flows (PING/PONG). */
async function bulk(job: Extract<ClientJob, { kind: 'bulk' }>): Promise<BulkResult> {
  await upload(job.target, 4 << 20); // warm-up
  const up = await upload(job.target, job.bytes);
  const down = await download(job.target, job.bytes);
  const lat = await newFlowLatency(job.target, job.flows);
  return { upGbit: gbit(up), downGbit: gbit(down), newFlowP50: lat.p50 };
}

const job = JSON.parse(process.argv[2]!) as ClientJob;
try {
  const result =
    job.kind === 'http' ? await http(job) : job.kind === 'cps' ? await cps(job) : job.kind === 'bulk' ? await bulk(job) : await idle(job);
  process.send!({ result }, () => process.exit(0));
} catch (err) {
  process.send!({ error: (err as Error).message }, () => process.exit(1));
}
