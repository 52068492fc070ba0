// Helpers for the mount tests: a connected socket pair (Node 20 has no stream.duplexPair) and a
// logger that keeps its lines for assertions.
import { createServer, connect, type Socket } from 'node:net';
import type { Level, Logger } from '../../../lib/common/log.js';

/** Two ends of one loopback TCP connection; what is written to one is read from the other. */
export async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((res) => server.once('connection', res));
  const a = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => {
    a.once('connect', res);
    a.once('error', rej);
  });
  const b = await accepted;
  server.close();
  a.setNoDelay(true);
  b.setNoDelay(true);
  return [a, b];
}

export interface LogLine {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

/** A Logger that records every line (all levels) in `lines`. */
export function recordingLogger(lines: LogLine[] = [], base: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at =
    (level: Level) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, msg, fields: { ...base, ...fields } });
  return {
    lines,
    level: 'debug',
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
  };
}
