// A kube port-forward to one port of a pod as a Duplex, over the API server's WebSocket endpoint
// (`/api/v1/namespaces/NS/pods/POD/portforward?ports=P`, channel subprotocols) with the `ws`
// library — client-node's PortForward copies every chunk twice and ignores backpressure in both
// directions (issue #14): a stalled reader here pauses the WebSocket's socket, and a write
// completes only when its frame has reached the socket, so the tunnel's HTTP/2 flow control
// reaches all the way to the API server.
//
// The channel protocol (k8s.io/apimachinery wsstream): every binary message starts with its
// channel byte; port P uses channel 2i for data and 2i+1 for errors (one port here: 0 and 1); the
// first message of each channel carries the port number (2 bytes, little-endian) before any data.
// v5.channel.k8s.io adds a close message (channel 255, then the channel being closed).
import type * as k8s from '@kubernetes/client-node';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { TpError } from '../common/errors.js';

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const DATA = 0;
const ERROR = 1;
const CLOSE = 255;
/** The API server refuses bigger messages (wsstream's maxFrameSize is 32 MiB); 1 MiB is plenty. */
const MAX_MESSAGE = 1 << 20;
/** Inbound messages buffered before the WebSocket's socket is paused. */
const READ_HIGH_WATER = 1 << 20;

export class PortForwardError extends TpError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super('E_PORT_FORWARD', message);
    this.name = 'PortForwardError';
  }
}

/** Opens the port-forward; rejects with the API server's refusal (status when it sent one). */
export async function portForwardStream(kc: k8s.KubeConfig, namespace: string, pod: string, port: number): Promise<Duplex> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new PortForwardError('the kubeconfig has no current cluster');
  const base = cluster.server.replace(/^http/, 'ws').replace(/\/$/, '');
  const url = `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
  // TLS material and credentials exactly as client-node would use them (exec plugins and OIDC
  // tokens included: applyToHTTPSOptions runs them).
  const opts: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(opts);
  const tlsInside = url.startsWith('wss:');
  const ws = new WebSocket(url, PROTOCOLS, {
    ...opts,
    perMessageDeflate: false,
    maxPayload: 32 << 20,
    handshakeTimeout: 15_000,
    // Masking exists for intermediaries that parse cleartext WebSocket traffic (RFC 6455 §10.3);
    // inside TLS there are none, so a zero key (which `ws` skips, writing the payload without a
    // copy) costs nothing in safety. Cleartext servers still get random keys.
    ...(tlsInside ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
  } as WebSocket.ClientOptions);
  // Listen before 'open': the API server's first messages (each channel's port number) can arrive
  // in the same read as the 101 response, and `ws` emits them before 'open'; a listener attached
  // after it would miss them and strip two bytes of the data instead.
  const duplex = new PortForwardDuplex(ws, `${namespace}/${pod}:${port}`);
  const beforeOpen = () => {}; // a failed handshake rejects below; the Duplex's own error is the same
  duplex.on('error', beforeOpen);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        reject(
          new PortForwardError(`Unexpected server response: ${res.statusCode}${body ? ` ${body.slice(0, 300)}` : ''}`, res.statusCode),
        ),
      );
    });
    ws.once('error', (err) => reject(err));
  }).catch((err: unknown) => {
    duplex.destroy();
    throw err;
  });
  duplex.off('error', beforeOpen);
  // An error-channel message can ride in with the 101 and destroy the stream before it is returned.
  if (duplex.destroyed) throw duplex.errored ?? new PortForwardError(`the port-forward to ${namespace}/${pod}:${port} closed as it opened`);
  return duplex;
}

class PortForwardDuplex extends Duplex {
  #seenPort = [false, false];
  #paused = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly what: string,
  ) {
    super({ readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: 256 << 10, allowHalfOpen: true });
    const socket = (ws as unknown as { _socket?: { setNoDelay?: (b: boolean) => void } })._socket;
    socket?.setNoDelay?.(true);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#message(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.destroyed) return;
      // The pod's side closed the connection, or the API server ended the forward.
      this.push(null);
      this.destroy(
        code === 1000 || code === 1005
          ? undefined
          : new PortForwardError(`the port-forward to ${this.what} closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`),
      );
    });
    ws.on('error', (err) => this.destroy(err));
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (!isBinary || data.length === 0) return;
    const channel = data[0]!;
    let payload = data.subarray(1);
    if (channel === CLOSE) {
      if (payload[0] === DATA) this.push(null);
      return;
    }
    if (channel !== DATA && channel !== ERROR) return;
    if (!this.#seenPort[channel]) {
      // The first message of a channel opens with its port number.
      this.#seenPort[channel] = true;
      payload = payload.subarray(2);
    }
    if (payload.length === 0) return;
    if (channel === ERROR) {
      this.destroy(new PortForwardError(`port-forward to ${this.what} failed: ${payload.toString().trim()}`));
      return;
    }
    if (!this.push(payload) && !this.#paused) {
      this.#paused = true;
      this.ws.pause();
    }
  }

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.ws.resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  #send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return cb(new PortForwardError(`the port-forward to ${this.what} is closed`));
    // One message per chunk (at most MAX_MESSAGE): the channel byte, then the bytes. The callback
    // runs once the frame is on the socket — that is the backpressure.
    let off = 0;
    const next = (err?: Error | null) => {
      if (err) return cb(err);
      if (off >= chunk.length) return cb();
      const n = Math.min(chunk.length - off, MAX_MESSAGE);
      const msg = Buffer.allocUnsafe(n + 1);
      msg[0] = DATA;
      chunk.copy(msg, 1, off, off + n);
      off += n;
      this.ws.send(msg, { binary: true }, next);
    };
    next();
  }

  override _final(cb: (err?: Error | null) => void): void {
    // The channel protocol has no half-close before v5; closing the WebSocket ends both ways.
    if (this.ws.protocol === 'v5.channel.k8s.io' && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(Buffer.from([CLOSE, DATA]), { binary: true }, () => cb());
    } else cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    cb(err);
  }
}
