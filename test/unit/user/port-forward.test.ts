// The WebSocket port-forward against a hand-driven server on loopback: RFC 6455 framing and the
// Kubernetes channel protocol (k8s.io/apimachinery wsstream) written byte by byte, so the tests
// control exactly which bytes share a TCP segment with the 101 response.
import test from 'ava';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { portForwardStream, PortForwardError } from '../../../lib/user/port-forward.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PORT = 8081;

/** One unmasked server-to-client binary frame (RFC 6455 §5.2). */
function frame(payload: Buffer, opcode = 0x2): Buffer {
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff])
        : (() => {
            const h = Buffer.alloc(10);
            h[0] = 0x80 | opcode;
            h[1] = 127;
            h.writeBigUInt64BE(BigInt(n), 2);
            return h;
          })();
  return Buffer.concat([head, payload]);
}

const channelMessage = (channel: number, bytes: Buffer) => frame(Buffer.concat([Buffer.from([channel]), bytes]));
const portPrefix = () => Buffer.from([PORT & 0xff, PORT >> 8]);

/** Parses the client's masked frames from `buf`; returns the complete ones and the rest. */
function parseFrames(buf: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const opcode = buf[off]! & 0x0f;
    let len = buf[off + 1]! & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (buf[off + 1]! & 0x80) !== 0;
    const mask = masked ? buf.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    frames.push({ opcode, payload });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

interface Peer {
  socket: Socket;
  /** Data-channel bytes the client sent, in order. */
  received: Buffer[];
  protocolsOffered: string[];
}

/** A server that answers the upgrade and then lets the test drive the socket. `afterUpgrade`
 * is written in the same `write` as the 101 response. */
async function withServer(
  opts: { afterUpgrade?: Buffer; refuse?: { status: number; body: string } },
  run: (kc: k8s.KubeConfig, peer: Promise<Peer>) => Promise<void>,
): Promise<void> {
  let resolvePeer!: (p: Peer) => void;
  const peer = new Promise<Peer>((r) => (resolvePeer = r));
  const server: Server = createServer((socket) => {
    let head: Buffer = Buffer.alloc(0);
    const onHead = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHead);
      const text = head.subarray(0, end).toString();
      if (opts.refuse) {
        socket.end(
          `HTTP/1.1 ${opts.refuse.status} Refused\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(opts.refuse.body)}\r\n\r\n${opts.refuse.body}`,
        );
        return;
      }
      const key = /sec-websocket-key: *(\S+)/i.exec(text)![1]!;
      const offered = /sec-websocket-protocol: *([^\r\n]+)/i.exec(text)![1]!.split(/, */);
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const response = Buffer.from(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nsec-websocket-protocol: v4.channel.k8s.io\r\n\r\n`,
      );
      socket.write(Buffer.concat([response, opts.afterUpgrade ?? Buffer.alloc(0)]));
      const p: Peer = { socket, received: [], protocolsOffered: offered };
      let buf: Buffer = head.subarray(end + 4);
      const onFrames = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const { frames, rest } = parseFrames(buf);
        buf = rest;
        for (const f of frames) if (f.opcode === 0x2 && f.payload[0] === 0) p.received.push(f.payload.subarray(1));
      };
      onFrames(Buffer.alloc(0));
      socket.on('data', onFrames);
      socket.on('error', () => {});
      resolvePeer(p);
    };
    socket.on('data', onHead);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'tok' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  try {
    await run(kc, peer);
  } finally {
    server.close();
    void peer.then((p) => p.socket.destroy());
  }
}

/** The first `n` bytes, or a rejection naming how many came within 10 s. */
function readN(stream: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(
      () => reject(new Error(`${got} of ${n} bytes arrived: ${Buffer.concat(parts).subarray(0, 40).toString()}`)),
      10_000,
    );
    const onData = (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

test('the port numbers that arrive with the 101 response are stripped, and no data byte is lost', async (t) => {
  // Both channels' port-number messages and the first data ride in the same segment as the 101:
  // `ws` emits them before 'open', so a listener attached later would miss them (it did).
  const first = Buffer.from('first bytes of the stream');
  const after = Buffer.concat([channelMessage(0, portPrefix()), channelMessage(1, portPrefix()), channelMessage(0, first)]);
  await withServer({ afterUpgrade: after }, async (kc, peer) => {
    const s = await portForwardStream(kc, 'ns', 'pod', PORT);
    t.deepEqual(await readN(s, first.length), first);
    const p = await peer;
    t.deepEqual(p.protocolsOffered.slice(0, 2), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    s.destroy();
  });
});

test('writes arrive on the data channel in order, large ones split into messages', async (t) => {
  await withServer(
    { afterUpgrade: Buffer.concat([channelMessage(0, portPrefix()), channelMessage(1, portPrefix())]) },
    async (kc, peer) => {
      const s = await portForwardStream(kc, 'ns', 'pod', PORT);
      const big = Buffer.alloc(3 * (1 << 20) + 17);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      s.write(Buffer.from('hello '));
      s.write(big);
      await new Promise<void>((r) => s.write(Buffer.from(' end'), () => r()));
      const p = await peer;
      const deadline = Date.now() + 10_000;
      const want = Buffer.concat([Buffer.from('hello '), big, Buffer.from(' end')]);
      while (Buffer.concat(p.received).length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      t.true(Buffer.concat(p.received).equals(want));
      t.true(
        p.received.every((m) => m.length <= 1 << 20),
        'no message above 1 MiB',
      );
      s.destroy();
    },
  );
});

test("a message on the error channel destroys the stream with the API server's words", async (t) => {
  await withServer(
    { afterUpgrade: Buffer.concat([channelMessage(0, portPrefix()), channelMessage(1, portPrefix())]) },
    async (kc, peer) => {
      const s = await portForwardStream(kc, 'ns', 'pod', PORT);
      const failed = new Promise<Error>((r) => s.once('error', r));
      (await peer).socket.write(channelMessage(1, Buffer.from('error forwarding port 8081: connection refused')));
      const err = await failed;
      t.true(err instanceof PortForwardError);
      t.regex(err.message, /ns\/pod:8081 failed: error forwarding port 8081: connection refused/);
    },
  );
});

test('an error that rides in with the 101 rejects the open instead of returning a dead stream', async (t) => {
  const after = Buffer.concat([
    channelMessage(0, portPrefix()),
    channelMessage(1, portPrefix()),
    channelMessage(1, Buffer.from('pod not running')),
  ]);
  await withServer({ afterUpgrade: after }, async (kc) => {
    const err = await t.throwsAsync(portForwardStream(kc, 'ns', 'pod', PORT));
    t.regex(err!.message, /ns\/pod:8081 failed: pod not running/);
  });
});

test('a refused upgrade rejects with the status and the body', async (t) => {
  await withServer({ refuse: { status: 403, body: 'pods "pod" is forbidden: cannot create pods/portforward' } }, async (kc) => {
    const err = await t.throwsAsync(portForwardStream(kc, 'ns', 'pod', PORT));
    t.true(err instanceof PortForwardError);
    t.is((err as PortForwardError).status, 403);
    t.regex(err!.message, /403.*forbidden/);
  });
});

test('a normal close (1000) ends the readable side without an error', async (t) => {
  const closeFrame = frame(Buffer.from([0x03, 0xe8]), 0x8);
  await withServer(
    {
      afterUpgrade: Buffer.concat([
        channelMessage(0, portPrefix()),
        channelMessage(1, portPrefix()),
        channelMessage(0, Buffer.from('bye')),
        closeFrame,
      ]),
    },
    async (kc) => {
      const s = await portForwardStream(kc, 'ns', 'pod', PORT);
      let error: Error | undefined;
      s.on('error', (e) => (error = e));
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      await new Promise((r) => s.once('close', r));
      t.is(Buffer.concat(chunks).toString(), 'bye');
      t.is(error, undefined);
    },
  );
});

test('a slow reader pauses the WebSocket instead of buffering without bound', async (t) => {
  // 8 MiB arrive while nobody reads: the Duplex buffers about its high-water mark and the rest
  // stays in the kernel, which the sender sees as a socket that stops draining.
  await withServer(
    { afterUpgrade: Buffer.concat([channelMessage(0, portPrefix()), channelMessage(1, portPrefix())]) },
    async (kc, peer) => {
      const s = await portForwardStream(kc, 'ns', 'pod', PORT);
      const p = await peer;
      const chunk = channelMessage(0, Buffer.alloc(64 << 10, 7));
      let sent = 0;
      let blocked = false;
      for (let i = 0; i < 128; i++) {
        sent += 64 << 10;
        if (!p.socket.write(chunk)) {
          await Promise.race([new Promise((r) => p.socket.once('drain', r)), new Promise((r) => setTimeout(r, 500))]);
          if (p.socket.writableNeedDrain) {
            blocked = true;
            break;
          }
        }
      }
      t.true(blocked, `the sender was never held back after ${sent} bytes`);
      t.true(s.readableLength <= 2 << 20, `buffered ${s.readableLength} bytes`);
      // Reading again drains everything that was sent.
      const all = await readN(s, sent);
      t.is(all.length, sent);
      s.destroy();
    },
  );
});
