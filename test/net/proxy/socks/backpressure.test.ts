// A peer that stops reading must not make the proxy buffer: the proxy stops reading the other
// side, the kernel windows close, and the source's writes stop being accepted. The source below
// honours backpressure (as a TCP sender must), so what it manages to write is a direct measure
// of what the proxy let in.

import test from 'ava';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { socksConnect, startProxy, TestDialer } from './harness.js';

const MiB = 1 << 20;
const RUN_MS = 2000;
/** Kernel socket buffers on loopback autotune to a few MiB per socket; 3 sockets sit between
 * the source and the stalled reader. Anything near this bound means the proxy is buffering. */
const MAX_IN_FLIGHT = 48 * MiB;
/** Growth of JS heap plus Buffer memory (Buffers live outside the heap) and of rss. */
const MAX_HEAP_GROWTH = 32 * MiB;
const MAX_RSS_GROWTH = 96 * MiB;

/** Writes 64 KiB chunks as fast as the socket accepts them for `ms`; resolves with bytes accepted. */
async function pump(s: Socket, ms: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const until = Date.now() + ms;
  let written = 0;
  while (Date.now() < until && !s.destroyed) {
    if (s.write(chunk)) {
      written += chunk.length;
      if (written % (4 * MiB) === 0) await new Promise((r) => setImmediate(r)); // let I/O run
    } else {
      written += chunk.length;
      const left = until - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          s.off('drain', done);
          resolve();
        }
        s.once('drain', done);
      });
    }
  }
  return written;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** JS heap + ArrayBuffer memory: a proxy that buffers holds Buffers, which heapUsed misses. */
function heapUsed(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function assertBounded(t: import('ava').ExecutionContext, who: string, written: number, heapDelta: number, rssDelta: number) {
  t.log(
    `${who} pushed ${(written / MiB).toFixed(1)} MiB in ${RUN_MS} ms; heap+buffers ${(heapDelta / MiB).toFixed(1)} MiB, rss ${(rssDelta / MiB).toFixed(1)} MiB`,
  );
  t.true(written < MAX_IN_FLIGHT, `${who} pushed ${written} bytes into a stalled flow`);
  t.true(heapDelta < MAX_HEAP_GROWTH, `heap and buffers grew by ${heapDelta} bytes`);
  t.true(rssDelta < MAX_RSS_GROWTH, `rss grew by ${rssDelta} bytes`);
}

test('a client that stops reading: the target can only push a bounded amount, memory stays bounded', async (t) => {
  t.timeout(30_000);
  let pumped: Promise<number> | undefined;
  const target = createServer((s) => {
    s.on('error', () => {});
    pumped = pump(s, RUN_MS);
  });
  const tport = await listen(target);
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: tport })) });
  const heap0 = heapUsed();
  const rss0 = process.memoryUsage().rss;
  const client = await socksConnect(port, 'firehose.default', 80); // left paused: never reads
  await new Promise((r) => setTimeout(r, 50));
  const written = await pumped!;
  assertBounded(t, 'the target', written, heapUsed() - heap0, process.memoryUsage().rss - rss0);
  client.destroy();
  await proxy.stop();
  target.close();
});

test('a target that stops reading: the client can only push a bounded amount', async (t) => {
  t.timeout(30_000);
  const target = createServer((s) => {
    s.on('error', () => {});
    s.pause(); // accepts the connection, never reads
  });
  const tport = await listen(target);
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: tport })) });
  const heap0 = heapUsed();
  const rss0 = process.memoryUsage().rss;
  const client = await socksConnect(port, 'tarpit.default', 80);
  client.on('error', () => {});
  const written = await pump(client, RUN_MS);
  assertBounded(t, 'the client', written, heapUsed() - heap0, process.memoryUsage().rss - rss0);
  client.destroy();
  await proxy.stop();
  target.close();
});

test('http absolute-URI: a client that stops reading a streamed response stalls the origin', async (t) => {
  t.timeout(30_000);
  let pumped: Promise<number> | undefined;
  // A raw origin that sends an endless response body; the proxy relays it through Node's
  // ServerResponse, whose write() must stop the upstream read when the client stalls.
  const origin = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1099511627776\r\n\r\n');
      pumped = pump(s, RUN_MS);
    });
  });
  const oport = await listen(origin);
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: oport })) });
  const heap0 = heapUsed();
  const rss0 = process.memoryUsage().rss;
  const client = connect({ host: '127.0.0.1', port });
  client.on('error', () => {});
  await once(client, 'connect');
  client.write('GET http://stream.default/ HTTP/1.1\r\nHost: stream.default\r\n\r\n');
  client.pause();
  while (!pumped) await new Promise((r) => setTimeout(r, 10));
  const written = await pumped;
  assertBounded(t, 'the origin', written, heapUsed() - heap0, process.memoryUsage().rss - rss0);
  client.destroy();
  await proxy.stop();
  origin.close();
});
