// Bodies are streamed, never held: a destination that stops reading stops the client, and the
// agent's memory does not grow with the body.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dialer, sha, startAgent, startOrigin, waitFor } from './harness.js';

test('a 48 MiB upload to a destination that stops reading is not buffered by the agent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-http-'));
  const file = join(dir, 'body');
  const body = randomBytes(48 * 1024 * 1024);
  writeFileSync(file, body);
  const want = sha(body);

  // The workstation reads the head, then nothing until told to; then hashes the rest.
  let sock: Socket | undefined;
  let received = 0;
  const hash = (await import('node:crypto')).createHash('sha256');
  let headSeen = false;
  let buf = Buffer.alloc(0);
  const ws = createServer((s) => {
    sock = s;
    s.on('data', (b: Buffer) => {
      if (!headSeen) {
        buf = Buffer.concat([buf, b]);
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        headSeen = true;
        b = buf.subarray(i + 4);
        s.pause();
      }
      hash.update(b);
      received += b.length;
      if (received === body.length) s.end(`HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n${hash.digest('hex')}`);
    });
  });
  ws.listen(0, '127.0.0.1');
  await once(ws, 'listening');
  const app = await startOrigin('app');
  const ag = await startAgent({
    engagements: {
      app: dialer(app.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer((ws.address() as AddressInfo).port) }],
      wiretaps: [],
    },
  });
  try {
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const curl = new Promise<string>((resolve, reject) =>
      execFile(
        'curl',
        ['-sS', '--max-time', '20', '-H', 'x-dev: alice', '-H', 'Expect:', '--data-binary', `@${file}`, `http://127.0.0.1:${ag.port}/up`],
        { maxBuffer: 1 << 20 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    t.true(await waitFor(() => headSeen));
    await new Promise((r) => setTimeout(r, 700)); // the client fills every buffer it can
    const grown = process.memoryUsage().arrayBuffers - before;
    t.log(
      `agent memory growth while stalled: ${(grown / 1048576).toFixed(1)} MiB, destination received ${(received / 1048576).toFixed(1)} MiB`,
    );
    t.true(grown < 16 * 1024 * 1024, `the agent holds ${(grown / 1048576).toFixed(1)} MiB while the destination is stalled`);
    t.true(received < body.length);
    sock!.resume();
    t.is(await curl, want);
  } finally {
    await ag.close();
    ws.close();
    app.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
