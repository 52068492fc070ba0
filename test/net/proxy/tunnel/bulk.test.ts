// The one large transfer of the suite: 1 GiB each way at the same time, hashed on both ends.
// The tunnel server runs in a child process so the relay has a core to itself (2-core machines).

import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex, Writable } from 'node:stream';
import { TunnelClient } from '../../../../lib/proxy/tunnel/client.js';
import { childServer, tcpTarget, within } from './harness.js';

const TOTAL = 1 << 30;
const CHUNK = 256 << 10;
// A prime number of distinct random blocks, cycled: reordered, dropped or repeated chunks change
// the hash, and no per-chunk allocation disturbs the measurement.
const BLOCKS = Array.from({ length: 7 }, () => randomBytes(CHUNK));

/** Writes TOTAL bytes with backpressure, returns their sha256. */
function send(w: Writable): Promise<string> {
  const h = createHash('sha256');
  let sent = 0;
  let i = 0;
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    const pump = () => {
      while (sent < TOTAL) {
        const b = BLOCKS[i++ % BLOCKS.length]!;
        h.update(b);
        sent += b.length;
        if (!w.write(b)) return void w.once('drain', pump);
      }
      w.end();
      resolve(h.digest('hex'));
    };
    pump();
  });
}

function receive(r: Duplex): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    r.on('data', (c: Buffer) => {
      bytes += c.length;
      h.update(c);
    });
    r.once('end', () => resolve({ hash: h.digest('hex'), bytes }));
    r.once('error', reject);
  });
}

test('1 GiB each way, at once, arrives byte-exact (sha256 on both ends)', async (t) => {
  const child = await childServer();
  let targetSide!: Promise<[string, { hash: string; bytes: number }]>;
  const target = await tcpTarget((s) => {
    targetSide = Promise.all([send(s), receive(s)]);
  });
  const client = await TunnelClient.connect({ host: '127.0.0.1', port: child.port });
  try {
    const flow = await client.dialTcp('127.0.0.1', target.port);
    const t0 = process.hrtime.bigint();
    const [sentHash, got] = await within(Promise.all([send(flow), receive(flow)]), 300_000, '1 GiB both ways');
    const [targetSent, targetGot] = await within(targetSide, 60_000, 'target side');
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    t.is(got.bytes, TOTAL);
    t.is(targetGot.bytes, TOTAL);
    t.is(targetGot.hash, sentHash, 'client → target');
    t.is(got.hash, targetSent, 'target → client');
    const gbit = (2 * TOTAL * 8) / secs / 1e9;
    const msg = `2 GiB (1 GiB each way) in ${secs.toFixed(2)} s: ${gbit.toFixed(2)} Gbit/s aggregate, ${(gbit / 2).toFixed(2)} Gbit/s per direction`;
    t.log(msg);
    console.log(`[tunnel bulk] ${msg}`);
  } finally {
    await client.close();
    await child.stop();
    await target.close();
  }
});
