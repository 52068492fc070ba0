// The CLI's transport to the user daemon: one HTTP/1.0 request per call on the daemon's unix
// socket, served by unixServe (lib/common/rpc/unix-http.ts) as it serves any HTTP client, with
// the answers and errors unixCall gives.
//
// Not node:http's client: in a fresh process its first request takes about 10 ms longer (its
// agent, parser and request code run cold; measured for #14), and a CLI process lives for one or
// two calls. HTTP/1.0 keeps the answer trivial to read: the server sends no chunked encoding to a
// 1.0 client and closes the connection after the answer (RFC 9112 §9.3: 1.0 has no persistent
// connections by default), so the body is what follows the head. The request is never ended from
// our side: Node's server drops a request whose client half-closes before the answer.
import { connect } from 'node:net';
import { DaemonCallError, daemonDownError } from '../common/rpc/daemon.js';

/** POST /v1/<method> with `body` as JSON; resolves with the 200 answer's JSON, rejects with the
 * daemon's DaemonCallError, E_NOT_RUNNING when nothing listens on the socket, E_TIMEOUT after
 * `timeoutMs` without a byte, E_DAEMON for an answer that is not one, or the socket's own error. */
export function daemonCall<R>(socketPath: string, method: string, body: unknown, timeoutMs: number, who: string): Promise<R> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const head = `POST /v1/${method} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(socketPath);
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new DaemonCallError('E_TIMEOUT', `the ${who} did not answer ${method} within ${timeoutMs / 1000} s`)),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', (err) => reject(daemonDownError(err, socketPath, who) ?? err));
    socket.once('end', () => {
      socket.destroy();
      try {
        resolve(readAnswer<R>(Buffer.concat(chunks), who));
      } catch (err) {
        reject(err);
      }
    });
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
  });
}

/** The JSON of a 200 answer, or the daemon's error as a DaemonCallError. */
export function readAnswer<R>(raw: Buffer, who: string): R {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = headEnd < 0 ? '' : raw.subarray(0, headEnd).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(head)?.[1] ?? 0);
  const unreadable = () =>
    new DaemonCallError(
      'E_DAEMON',
      `the ${who} sent an unreadable answer (${status ? `HTTP ${status}` : 'no HTTP head'})`,
      'run `tp quit -s` and retry',
    );
  if (!status || /\r\ntransfer-encoding:/i.test(head)) throw unreadable();
  const body = raw.subarray(headEnd + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
  if (length !== undefined && Number(length) !== body.length) throw unreadable(); // cut short
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw unreadable();
  }
  if (status === 200) return parsed as R;
  throw DaemonCallError.fromAnswer(parsed, `HTTP ${status}`);
}
