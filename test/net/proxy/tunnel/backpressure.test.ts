// A target that stops reading must stall the sender, not fill the tunnel's memory: the socket's
// kernel buffer fills, the server stops reading the stream, the stream window closes, and the
// client's write() returns false. The server runs in a child so its heap is measured alone.

import test from 'ava';
import type { Socket } from 'node:net';
import { TunnelClient } from '../../../../lib/proxy/tunnel/client.js';
import { STREAM_WINDOW } from '../../../../lib/proxy/tunnel/settings.js';
import { childServer, tcpTarget, within } from './harness.js';

const MiB = 1 << 20;
/** Resolves true on 'drain', false after ms; leaves no listener behind. */
function drainOr(w: NodeJS.EventEmitter, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      w.off('drain', onDrain);
      resolve(v);
    };
    const onDrain = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    w.once('drain', onDrain);
  });
}

const gc = (globalThis as { gc?: () => void }).gc;

test('a target that stops reading does not grow the server or the client', async (t) => {
  const child = await childServer();
  const stalled: Socket[] = [];
  const target = await tcpTarget((s) => {
    s.pause(); // never reads: only the kernel's socket buffers take data
    stalled.push(s);
  });
  const client = await TunnelClient.connect({ host: '127.0.0.1', port: child.port });
  try {
    const flow = await client.dialTcp('127.0.0.1', target.port);
    flow.on('error', () => {});
    const chunk = Buffer.alloc(256 << 10, 1);
    gc?.();
    const serverBefore = await child.mem();
    const clientBefore = process.memoryUsage();

    // Keep trying for a bounded time: write until write() says stop, then wait for 'drain' —
    // which, with a stalled target, should come only until the windows are full.
    let accepted = 0;
    let writes = 0;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && writes < 100_000) {
      writes++;
      accepted += chunk.length;
      if (!flow.write(chunk)) {
        await drainOr(flow, 200);
      }
    }
    // Once stalled, further waits see no drain: the sender is held back, not buffered.
    const drained = await drainOr(flow, 500);

    gc?.();
    const serverAfter = await child.mem();
    const clientAfter = process.memoryUsage();
    const d = (a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage) => ({
      rss: (b.rss - a.rss) / MiB,
      heap: (b.heapUsed + b.external + b.arrayBuffers - (a.heapUsed + a.external + a.arrayBuffers)) / MiB,
    });
    const server = d(serverBefore, serverAfter);
    const clientD = d(clientBefore, clientAfter);
    t.log(`accepted ${(accepted / MiB).toFixed(1)} MiB in ${writes} writes; drain after stall: ${drained}`);
    t.log(`server Δrss ${server.rss.toFixed(1)} MiB Δheap+ext ${server.heap.toFixed(1)} MiB`);
    t.log(`client Δrss ${clientD.rss.toFixed(1)} MiB Δheap+ext ${clientD.heap.toFixed(1)} MiB`);

    t.false(drained, 'the sender stays stalled');
    // What left the client is bounded by the stream window plus kernel socket buffers, not by time.
    t.true(accepted < STREAM_WINDOW + 48 * MiB, `accepted ${accepted / MiB} MiB`);
    t.true(server.rss < 64 && server.heap < 64);
    t.true(clientD.rss < 64 && clientD.heap < 64);

    // Once the target reads again everything flows: the stall was backpressure, not a wedge.
    let drainedBytes = 0;
    for (const s of stalled) {
      s.on('data', (c: Buffer) => (drainedBytes += c.length));
      s.resume();
    }
    flow.end();
    await within(new Promise((r) => stalled[0]!.once('end', r)), 20_000, 'target drains');
    t.is(drainedBytes, accepted);
  } finally {
    await client.close();
    await child.stop();
    await target.close();
  }
});
