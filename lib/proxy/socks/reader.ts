// Reads the small handshake messages at the start of a connection from a socket in paused mode,
// one parser at a time. Bytes beyond a message (a client that pipelines its greeting and request,
// or data right behind the request) are kept for the next parser and, at the end, handed back to
// the socket with unshift() so the splice sees them first.

import type { Socket } from 'node:net';
import { SOCKS_MAX_HANDSHAKE_BYTES } from '../../common/limits.js';
import type { Parsed } from './socks5.js';

/** Largest handshake message: a request with a 255-byte name is 262 bytes, a username/password
 * message 513. More than this unparsed means the peer is not speaking the protocol. */
const MAX_PENDING = SOCKS_MAX_HANDSHAKE_BYTES;

export type ReadResult<T> = { status: 'ok'; value: T } | { status: 'bad'; reason: string; reply?: number } | { status: 'closed' };

export class HandshakeReader {
  #pending: Buffer = Buffer.alloc(0);

  constructor(private readonly socket: Socket) {}

  /** Waits until `parse` accepts or rejects the buffered bytes, or the socket ends. */
  async read<T>(parse: (b: Buffer) => Parsed<T>): Promise<ReadResult<T>> {
    for (;;) {
      const r = parse(this.#pending);
      if (r.status === 'ok') {
        this.#pending = this.#pending.subarray(r.length);
        return { status: 'ok', value: r.value };
      }
      if (r.status === 'bad') return r.reply === undefined ? { status: 'bad', reason: r.reason } : r;
      if (this.#pending.length > MAX_PENDING) return { status: 'bad', reason: 'handshake message too long' };
      const chunk = await nextChunk(this.socket);
      if (chunk === null) return { status: 'closed' };
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    }
  }

  /** The first bytes of the connection, without consuming them. */
  async peek(): Promise<Buffer | null> {
    if (this.#pending.length === 0) {
      const chunk = await nextChunk(this.socket);
      if (chunk === null) return null;
      this.#pending = chunk;
    }
    return this.#pending;
  }

  /** Gives unparsed bytes back to the socket; the reader must not be used afterwards. */
  release(): void {
    if (this.#pending.length > 0) this.socket.unshift(this.#pending);
    this.#pending = Buffer.alloc(0);
  }
}

/** The next chunk, or null once the socket has ended, failed or closed. */
function nextChunk(socket: Socket): Promise<Buffer | null> {
  const now = socket.read() as Buffer | null;
  if (now !== null) return Promise.resolve(now);
  if (socket.readableEnded || socket.destroyed) return Promise.resolve(null);
  return new Promise((resolve) => {
    const cleanup = () => {
      socket.off('readable', onReadable);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.off('error', onGone);
    };
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return; // 'readable' also fires just before 'end'
      cleanup();
      resolve(chunk);
    };
    const onGone = () => {
      cleanup();
      resolve(null);
    };
    socket.on('readable', onReadable);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
  });
}
