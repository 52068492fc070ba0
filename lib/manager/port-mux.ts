// One TCP port, two protocols: the agents' HTTP/2 (prior knowledge, h2c) and the kubelet's
// HTTP/1.1 probes. Node serves h2c and HTTP/1.1 only on separate servers (allowHTTP1 needs TLS),
// so the first bytes decide: the HTTP/2 connection preface starts with "PRI " (RFC 9113 §3.4),
// which no HTTP/1 method is.
import { createServer, type Server, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI ');

export function createPortMux(onH2: (s: Socket) => void, onHttp1: (s: Socket) => void): Server {
  return createServer((sock) => {
    sock.on('error', () => {});
    let seen = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), 10_000);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.length < PREFACE.length && PREFACE.subarray(0, seen.length).equals(seen)) return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      sock.unshift(seen);
      // node:http2 reads what is already buffered on the socket when it takes it over; node:http
      // only listens for 'data', so the paused socket must flow again once it is attached.
      if (seen.subarray(0, PREFACE.length).equals(PREFACE)) onH2(sock);
      else {
        onHttp1(sock);
        sock.resume();
      }
    };
    sock.on('data', onData);
  });
}
