// Byte-exact bulk transfer through the proxy: 256 MiB each way at the same time over one SOCKS5
// flow, and 64 MiB through the absolute-URI HTTP path with curl; sha256 on both ends.

import test from 'ava';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { curl, socksConnect, startProxy, TestDialer } from './harness.js';

const MiB = 1 << 20;
const block = randomBytes(MiB);

function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => (w.off('close', onClose), resolve());
    const onClose = () => (w.off('drain', onDrain), reject(new Error('destination closed during the transfer')));
    w.once('drain', onDrain);
    w.once('close', onClose);
  });
}

/** Writes `total` bytes of a non-periodic pattern, honouring backpressure, then ends. */
async function sendPattern(w: Writable, total: number, hash: Hash): Promise<void> {
  for (let i = 0; i < total / MiB; i++) {
    const c = Buffer.from(block);
    c.writeUInt32BE(i, 0);
    hash.update(c);
    if (!w.write(c)) await drained(w);
  }
  w.end();
}

/** Hashes everything until EOF; resolves with [digest, byte count]. */
function hashUntilEnd(s: Socket): Promise<[string, number]> {
  const h = createHash('sha256');
  let n = 0;
  s.on('data', (c: Buffer) => {
    h.update(c);
    n += c.length;
  });
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve([h.digest('hex'), n]));
    s.once('error', reject);
    s.resume(); // the SOCKS client helper leaves the socket paused
  });
}

test('socks5: 256 MiB each way at once arrive byte-exact (sha256 on both ends)', async (t) => {
  t.timeout(180_000);
  const TOTAL = 256 * MiB;
  let serverSide: Promise<{ got: [string, number]; sent: string }> | undefined;
  const target = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    const sentHash = createHash('sha256');
    const got = hashUntilEnd(s);
    serverSide = Promise.all([got, sendPattern(s, TOTAL, sentHash)]).then(([g]) => ({ got: g, sent: sentHash.digest('hex') }));
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const tport = (target.address() as { port: number }).port;
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: tport })) });

  const started = Date.now();
  const c = await socksConnect(port, 'bulk.default', 5001);
  const clientSent = createHash('sha256');
  const [clientGot] = await Promise.all([hashUntilEnd(c), sendPattern(c, TOTAL, clientSent)]);
  const server = await serverSide!;
  const secs = (Date.now() - started) / 1000;
  t.log(`512 MiB total in ${secs.toFixed(1)} s (${((2 * TOTAL * 8) / secs / 1e9).toFixed(2)} Gbit/s both ways combined)`);

  t.deepEqual(clientGot, [server.sent, TOTAL]);
  t.deepEqual(server.got, [clientSent.digest('hex'), TOTAL]);
  c.destroy();
  await proxy.stop();
  target.close();
});

test('http: a 64 MiB download with curl -x (absolute-URI) is byte-exact', async (t) => {
  t.timeout(120_000);
  const TOTAL = 64 * MiB;
  const sent = createHash('sha256');
  const origin = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
    void sendPattern(res, TOTAL, sent);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const oport = (origin.address() as { port: number }).port;
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: oport })) });
  const file = `/tmp/tp-socks-download-${process.pid}`;
  try {
    const r = await curl(['-x', `http://127.0.0.1:${port}`, '-o', file, 'http://big.default/blob'], 60_000);
    t.is(r.code, 0, r.stderr);
    const got = await readFile(file);
    t.is(got.length, TOTAL);
    t.is(createHash('sha256').update(got).digest('hex'), sent.digest('hex'));
  } finally {
    await rm(file, { force: true });
    await proxy.stop();
    origin.close();
  }
});
