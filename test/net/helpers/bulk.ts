// Byte-exact bulk transfers for net tests: a deterministic stream that both ends can produce
// cheaply (AES-128-CTR keystream, ~GB/s with AES-NI) and a SHA-256 over what each end saw.
// Every chunk of the stream differs from every other, so a lost, duplicated or misplaced
// segment changes the digest; the byte count catches truncation.
//
// Protocols (one per port of servers-child.ts):
//   sink:   client sends bytes, half-closes; server answers `{"bytes":N,"sha256":"…"}\n`, ends.
//   source: client sends `N SEED\n`; server sends N stream bytes, then their 32-byte SHA-256, ends.

import { createCipheriv, createHash, type Cipher } from 'node:crypto';
import net from 'node:net';

export const CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK);

export class Keystream {
  readonly #cipher: Cipher;
  constructor(seed: number) {
    const key = Buffer.alloc(16);
    key.writeUInt32BE(seed >>> 0, 0);
    key.write('tp-net-tests', 4, 'latin1');
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }
  /** The next `n` (≤ CHUNK) bytes of the stream, in a fresh Buffer. */
  next(n: number): Buffer {
    return this.#cipher.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n));
  }
}

/** Writes `total` stream bytes to `sock`, honouring backpressure; resolves with their SHA-256.
 * Does not end the socket. */
export async function sendStream(sock: net.Socket, total: number, seed: number): Promise<Buffer> {
  const ks = new Keystream(seed);
  const hash = createHash('sha256');
  let left = total;
  while (left > 0) {
    const chunk = ks.next(Math.min(CHUNK, left));
    left -= chunk.length;
    hash.update(chunk);
    if (!sock.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          sock.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          sock.off('drain', onDrain);
          reject(new Error(`socket closed with ${left + chunk.length} bytes unsent`));
        };
        sock.once('drain', onDrain);
        sock.once('close', onClose);
      });
    }
  }
  return hash.digest();
}

export interface Transfer {
  bytes: number;
  ok: boolean;
  ms: number;
  gbitPerS: number;
  detail?: string;
}

const rate = (bytes: number, ms: number) => (bytes * 8) / (ms * 1e6);

/** Uploads `total` bytes to a sink server and checks the server's count and digest. */
export async function upload(host: string, port: number, total: number, seed = 1): Promise<Transfer> {
  const t0 = performance.now();
  const sock = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  const replyP = new Promise<string>((resolve, reject) => {
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (text += d));
    sock.once('end', () => resolve(text));
    sock.once('error', reject);
  });
  const digest = await sendStream(sock, total, seed);
  sock.end();
  const reply = JSON.parse(await replyP) as { bytes: number; sha256: string };
  sock.destroy();
  const ms = performance.now() - t0;
  const ok = reply.bytes === total && reply.sha256 === digest.toString('hex');
  return {
    bytes: total,
    ok,
    ms,
    gbitPerS: rate(total, ms),
    ...(ok ? {} : { detail: `sent ${total} sha ${digest.toString('hex')}, server saw ${JSON.stringify(reply)}` }),
  };
}

/** Downloads `total` bytes from a source server and checks them against its trailing digest. */
export async function download(host: string, port: number, total: number, seed = 2): Promise<Transfer> {
  const t0 = performance.now();
  const sock = net.connect({ host, port, noDelay: true });
  await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
  sock.write(`${total} ${seed}\n`);
  const hash = createHash('sha256');
  let got = 0;
  const tail: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      const body = Math.max(0, Math.min(d.length, total - got));
      if (body > 0) hash.update(body === d.length ? d : d.subarray(0, body));
      if (body < d.length) tail.push(d.subarray(body));
      got += d.length;
    });
    sock.once('end', resolve);
    sock.once('error', reject);
  });
  const ms = performance.now() - t0;
  const digest = hash.digest();
  const trailer = Buffer.concat(tail);
  const ok = got === total + 32 && trailer.equals(digest);
  return {
    bytes: total,
    ok,
    ms,
    gbitPerS: rate(total, ms),
    ...(ok
      ? {}
      : { detail: `got ${got} bytes (want ${total}+32), digest ${digest.toString('hex')} vs trailer ${trailer.toString('hex')}` }),
  };
}

/** Serves the sink protocol on `sock`. */
export function serveSink(sock: net.Socket): void {
  const hash = createHash('sha256');
  let bytes = 0;
  sock.on('data', (d: Buffer) => {
    bytes += d.length;
    hash.update(d);
  });
  sock.once('end', () => sock.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }) + '\n'));
}

/** Serves the source protocol on `sock`. */
export function serveSource(sock: net.Socket): void {
  let line = '';
  const onData = (d: Buffer) => {
    line += d.toString('latin1');
    const nl = line.indexOf('\n');
    if (nl < 0) return;
    sock.off('data', onData);
    const [n, seed] = line.slice(0, nl).split(' ').map(Number);
    sendStream(sock, n!, seed!).then(
      (digest) => sock.end(digest),
      () => sock.destroy(),
    );
  };
  sock.on('data', onData);
}
