// #12 differential test: the agent's HTTP/1.1 framing against Node's own parser (llhttp, through a
// node:http server on loopback). The same bytes go to both; the agent must never accept a message
// llhttp refuses, and never frame one differently (method, target, version, fields, body, and so
// where the next message starts). Being stricter than llhttp is allowed: the agent then answers
// 400 and closes, and nothing is forwarded out of step.
//
// Inputs: a corpus of the #12 attack inputs, and a seeded, bounded generator that mutates valid
// requests where framing is decided (line ends, framing fields, chunk lines, padding bytes).
//
// Bounded: 1,500 generated inputs and the corpus, 16 connections at a time (a few seconds).
// TP_FUZZ_SEED and TP_FUZZ_COUNT run other or more inputs (100,000 passed when this was written);
// TP_FUZZ_SHOW=1 logs the inputs the agent refuses and llhttp takes.
//
// One deliberate difference: llhttp knows a fixed list of methods (http.METHODS) and refuses any
// other token; RFC 9110 §9.1 lets methods be extended and the agent forwards them (a Go or Java app
// behind it may implement one). Method names never change framing, so an input llhttp refuses only
// for that reason is counted, not failed.
import test from 'ava';
import { once } from 'node:events';
import { createServer, METHODS, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import {
  BodyFramer,
  HeadCollector,
  HttpParseError,
  isH2Preface,
  keepsAlive,
  parseRequestHead,
  requestBody,
  sniffHttp,
  wantsSwitch,
} from '../../../../lib/agent/http/parse.js';

const B = (s: string) => Buffer.from(s, 'latin1');
const KNOWN = new Set(METHODS);

interface Msg {
  method: string;
  target: string;
  version: string;
  headers: string[]; // name, value, name, value… as node's rawHeaders
  body: string; // latin1, de-chunked
  complete: boolean;
  switched: boolean;
}

interface Outcome {
  msgs: Msg[];
  /** How the byte stream ended for the parser. */
  end: 'eof' | 'error' | 'close' | 'switch' | 'opaque';
  error?: string;
}

// ---- the agent's side: the router's loop over parse.ts, without sockets ------------------------

/** De-chunk a body the framer accepted (so its grammar is known to be right). */
function dechunk(raw: Buffer): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', i, 'latin1');
    const size = parseInt(raw.toString('latin1', i, eol).split(';')[0]!, 16);
    i = eol + 2;
    if (size === 0) return out;
    out += raw.toString('latin1', i, i + size);
    i += size + 2;
  }
}

/** The agent reading `input` delivered in pieces of the given sizes (cycled). */
function agentSide(input: Buffer, pieces: number[]): Outcome {
  const msgs: Msg[] = [];
  const s = sniffHttp(input);
  if (s === 'other') return { msgs, end: 'opaque' };
  let off = 0;
  let p = 0;
  const next = () => {
    const n = pieces[p++ % pieces.length]!;
    const b = input.subarray(off, off + n);
    off += b.length;
    return b;
  };
  let pending: Buffer = Buffer.alloc(0);
  const read = () => {
    if (pending.length) {
      const b = pending;
      pending = Buffer.alloc(0);
      return b;
    }
    return off < input.length ? next() : null;
  };
  try {
    for (;;) {
      const c = new HeadCollector('request');
      let got: { head: Buffer; rest: Buffer } | null = null;
      while (!got) {
        const b = read();
        if (b === null) return { msgs, end: 'eof' };
        got = c.push(b);
      }
      pending = got.rest;
      const req = parseRequestHead(got.head);
      if (isH2Preface(req)) return { msgs, end: 'opaque' };
      const m: Msg = {
        method: req.method,
        target: req.target,
        version: `${req.versionMajor}.${req.versionMinor}`,
        headers: req.fields.flat(),
        body: '',
        complete: false,
        switched: wantsSwitch(req),
      };
      const kind = requestBody(req);
      msgs.push(m);
      if (m.switched) return { msgs, end: 'switch' };
      const f = new BodyFramer(kind);
      const raw: Buffer[] = [];
      while (!f.done) {
        const b = read();
        if (b === null) return { msgs, end: 'eof' };
        const n = f.feed(b);
        raw.push(b.subarray(0, n));
        pending = b.subarray(n);
      }
      const body = Buffer.concat(raw);
      m.body = kind.kind === 'chunked' ? dechunk(body) : body.toString('latin1');
      m.complete = true;
      if (!keepsAlive(req)) return { msgs, end: 'close' };
    }
  } catch (e) {
    if (e instanceof HttpParseError) return { msgs, end: 'error', error: e.code };
    throw e;
  }
}

// ---- Node's side: a real node:http server ------------------------------------------------------

interface NodeRecord extends Outcome {
  closed: Promise<void>;
}

const records = new Map<number, NodeRecord>();
/** The client's connect and the server's accept race: a client waits here for its record. */
const waiting = new Map<number, (r: NodeRecord) => void>();
const server = createServer({ maxHeaderSize: 64 * 1024, keepAliveTimeout: 5000 });
function onMessage(req: IncomingMessage, res: ServerResponse | null, switched: boolean): void {
  const r = records.get(req.socket.remotePort!);
  if (!r) return;
  const m: Msg = {
    method: req.method!,
    target: req.url!,
    version: req.httpVersion,
    headers: req.rawHeaders,
    body: '',
    complete: false,
    switched,
  };
  r.msgs.push(m);
  if (switched) {
    r.end = 'switch';
    req.socket.destroy();
    return;
  }
  req.on('data', (c: Buffer) => (m.body += c.toString('latin1')));
  req.on('end', () => {
    m.complete = true;
    res!.end('ok');
  });
  req.on('error', () => {});
}
server.on('connection', (s: Socket) => {
  let done!: () => void;
  const rec: NodeRecord = { msgs: [], end: 'eof', closed: new Promise<void>((r) => (done = r)) };
  records.set(s.remotePort!, rec);
  waiting.get(s.remotePort!)?.(rec);
  s.on('close', () => done());
});
server.on('request', (req, res) => onMessage(req, res, false));
// Without these Node answers Expect itself and never reports the request; they are still requests.
server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
  res.writeContinue();
  onMessage(req, res, false);
});
server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => onMessage(req, res, false));
server.on('upgrade', (req: IncomingMessage) => onMessage(req, null, true));
server.on('connect', (req: IncomingMessage) => onMessage(req, null, true));
server.on('clientError', (err: Error & { code?: string }, s: Socket) => {
  const r = records.get(s.remotePort!);
  if (r && r.end !== 'switch') {
    r.end = 'error';
    r.error = err.code;
  }
  s.destroy();
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
test.after.always(() => server.close());

async function nodeSide(input: Buffer): Promise<Outcome> {
  const c = connect({ port, host: '127.0.0.1' });
  c.on('error', () => {});
  c.resume();
  await once(c, 'connect');
  const local = c.localPort!;
  const rec = records.get(local) ?? (await new Promise<NodeRecord>((r) => waiting.set(local, r)));
  waiting.delete(local);
  c.end(input);
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([rec.closed.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 3000)))]);
  clearTimeout(timer);
  c.destroy();
  records.delete(local);
  if (late) throw new Error(`node:http kept the connection open after ${JSON.stringify(input.toString('latin1'))}`);
  return rec;
}

// ---- the comparison ----------------------------------------------------------------------------

/** Why the agent's reading of `input` is unsafe next to llhttp's, or undefined if it is not. */
function disagreement(agent: Outcome, node: Outcome): string | undefined {
  if (agent.end === 'opaque') return undefined; // not parsed: the app gets the bytes as they are
  for (let i = 0; i < agent.msgs.length; i++) {
    const a = agent.msgs[i]!;
    const n = node.msgs[i];
    if (!n) return `the agent accepted message ${i} (${a.method} ${a.target}); llhttp did not (${node.error ?? node.end})`;
    for (const k of ['method', 'target', 'version'] as const)
      if (a[k] !== n[k]) return `message ${i}: ${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(n[k])}`;
    if (JSON.stringify(a.headers) !== JSON.stringify(n.headers))
      return `message ${i}: fields ${JSON.stringify(a.headers)} vs ${JSON.stringify(n.headers)}`;
    if (a.switched !== n.switched) return `message ${i}: switch ${a.switched} vs ${n.switched}`;
    if (a.switched) return undefined;
    if (a.complete && !n.complete) return `message ${i}: the agent framed a complete body; llhttp did not (${node.error ?? 'incomplete'})`;
    if (a.complete && a.body !== n.body) return `message ${i}: body ${JSON.stringify(a.body)} vs ${JSON.stringify(n.body)}`;
    // The agent still waits for body bytes where llhttp saw the end: the next message would differ.
    if (!a.complete && agent.end === 'eof' && n.complete)
      return `message ${i}: llhttp ended the body (${JSON.stringify(n.body)}); the agent waits for more`;
  }
  // Waiting for the rest of a head llhttp already parsed whole is a framing difference too.
  if (agent.end === 'eof' && node.msgs.length > agent.msgs.length)
    return `llhttp parsed message ${agent.msgs.length}; the agent waits for more of its head`;
  return undefined;
}

/** llhttp refused the input only for an extension method, which the agent forwards (see the top). */
function extensionMethodOnly(agent: Outcome, node: Outcome): boolean {
  const i = node.msgs.length;
  return node.error === 'HPE_INVALID_METHOD' && agent.msgs[i] !== undefined && !KNOWN.has(agent.msgs[i]!.method);
}

// ---- inputs ------------------------------------------------------------------------------------

const H = 'Host: h\r\n';
/** Every smuggling and bypass input of #12, and their close relatives. */
export const CORPUS: string[] = [
  `GET / HTTP/1.1\n${H}\n`,
  `GET / HTTP/1.1\r\n${H}X: a\n\r\n`,
  `GET / HTTP/1.1\r\n${H}\r\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\r\r\n\r\n`,
  `\r\r\nGET / HTTP/1.1\r\n${H}\r\n`,
  `\r\nGET / HTTP/1.1\r\n${H}X-Dev: alice\r\n\r\n`,
  `\r\n\r\n\nGET / HTTP/1.1\r\n${H}\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n 6\r\n\r\nhelloworld`,
  `POST / HTTP/1.1\r\n${H}Content-Length: \xa05\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\x85\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\t\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length:\t5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 3\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nabc`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\nGET /next HTTP/1.1\r\n${H}\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a="b\\"c"\r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
  `GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /after HTTP/1.0\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi`,
  `GET / HTTP/1.1\r\n${H}Expect: something\r\n\r\n`,
  `GET / HTTP/1.2\r\n${H}\r\n`,
  `GET x HTTP/1.1\r\n${H}\r\n`,
  `GET /\xe9 HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X Y: 1\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: \xe9\r\n\r\n`,
  `GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /two HTTP/1.0\r\n\r\n`,
  `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
  `CONNECT h:443 HTTP/1.1\r\n${H}\r\n`,
  `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
  `PROPFIND /dav HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`,
];

/** mulberry32: a small seeded PRNG, so every run sees the same inputs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)]! };
}

const BASES = [
  `GET /a?b=c HTTP/1.1\r\n${H}Accept: */*\r\nX-Dev: alice\r\n\r\n`,
  `POST /p HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
  `PUT /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;ext=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n`,
  `GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  `POST /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhiGET /y HTTP/1.0\r\n\r\n`,
  `\r\nDELETE /d HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`,
];
const BYTES = [
  0x0d, 0x0a, 0x20, 0x09, 0x00, 0x0b, 0x0c, 0x85, 0xa0, 0x3a, 0x2c, 0x3b, 0x3d, 0x22, 0x5c, 0x30, 0x35, 0x61, 0x46, 0x2d, 0x7f, 0xff,
];
const FRAMING_LINES = [
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: 3',
  'Content-Length:  5 ',
  'Content-Length: 05',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: identity',
  'Transfer-Encoding:chunked',
  'Connection: close',
  'Connection: keep-alive',
  'Connection: upgrade',
  'Upgrade: h2c',
  'Expect: 100-continue',
];
const LINE_ENDS = ['\n', '\r', '\r\r\n', '\n\r', '\r\n\r\n', '\r\n ', '\r\n\t', ''];

/** One mutated input: a base with 1–3 edits where framing is decided. */
function mutate(r: ReturnType<typeof prng>): Buffer {
  let s = r.pick(BASES);
  for (let k = 1 + r.int(3); k > 0; k--) {
    const at = r.int(s.length + 1);
    switch (r.int(9)) {
      case 0: // replace a byte
        s = s.slice(0, at) + String.fromCharCode(r.pick(BYTES)) + s.slice(at + 1);
        break;
      case 7: // replace a byte with any byte
        s = s.slice(0, at) + String.fromCharCode(r.int(256)) + s.slice(at + 1);
        break;
      case 8: {
        // flip the case of a letter (field names, codings, methods)
        const c = s.charCodeAt(at);
        if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) s = s.slice(0, at) + String.fromCharCode(c ^ 0x20) + s.slice(at + 1);
        break;
      }
      case 1: // insert a byte
        s = s.slice(0, at) + String.fromCharCode(r.pick(BYTES)) + s.slice(at);
        break;
      case 2: // delete a byte
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 3: {
        // change one CRLF into another line end
        const crlfs = [...s.matchAll(/\r\n/g)].map((m) => m.index!);
        if (crlfs.length) {
          const i = r.pick(crlfs);
          s = s.slice(0, i) + r.pick(LINE_ENDS) + s.slice(i + 2);
        }
        break;
      }
      case 4: {
        // add a framing field after one of the first lines of the input
        const crlfs = [...s.matchAll(/\r\n/g)].map((m) => m.index!).slice(0, 3);
        if (crlfs.length) {
          const i = r.pick(crlfs);
          s = s.slice(0, i + 2) + r.pick(FRAMING_LINES) + '\r\n' + s.slice(i + 2);
        }
        break;
      }
      case 5: {
        // repeat a field line
        const lines = s.split('\r\n');
        const j = 1 + r.int(Math.max(1, lines.length - 2));
        if (lines[j]) lines.splice(j, 0, lines[j]!);
        s = lines.join('\r\n');
        break;
      }
      default: {
        // change a digit (Content-Length values, chunk sizes)
        const digits = [...s.matchAll(/\d/g)].map((m) => m.index!);
        if (digits.length) {
          const i = r.pick(digits);
          s = s.slice(0, i) + String(r.int(10)) + s.slice(i + 1);
        }
      }
    }
  }
  return B(s);
}

const GENERATED = Number(process.env.TP_FUZZ_COUNT ?? 1500);
const PARALLEL = 16;

test('#12: the agent never accepts what llhttp refuses, nor frames a message differently (differential, seeded)', async (t) => {
  const r = prng(Number(process.env.TP_FUZZ_SEED ?? 0x12c0ffee));
  const inputs: Buffer[] = [...CORPUS.map(B)];
  for (let i = 0; i < GENERATED; i++) inputs.push(mutate(r));
  const failures: string[] = [];
  const stats = { compared: 0, bothAccepted: 0, agentStricter: 0, extensionMethod: 0, opaque: 0 };
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const input = inputs[next++]!;
      const whole = agentSide(input, [input.length || 1]);
      // The same bytes split at every byte and in odd pieces must be read the same way.
      for (const pieces of [[1], [3, 1, 7], [64]]) {
        const split = agentSide(input, pieces);
        if (JSON.stringify(split) !== JSON.stringify(whole))
          failures.push(
            `pieces ${pieces}: ${JSON.stringify(split)} vs ${JSON.stringify(whole)} for ${JSON.stringify(input.toString('latin1'))}`,
          );
      }
      const node = await nodeSide(input);
      stats.compared++;
      if (whole.end === 'opaque') stats.opaque++;
      if (extensionMethodOnly(whole, node)) {
        stats.extensionMethod++;
        continue;
      }
      const why = disagreement(whole, node);
      if (why) failures.push(`${why}\n    input ${JSON.stringify(input.toString('latin1'))}`);
      else if (whole.msgs.length < node.msgs.length || (whole.end === 'error' && node.end !== 'error')) {
        stats.agentStricter++;
        if (process.env.TP_FUZZ_SHOW) t.log(whole.error, JSON.stringify(input.toString('latin1')));
      } else stats.bothAccepted++;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  t.log(stats);
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} inputs read differently`);
  t.is(stats.compared, inputs.length);
});

test('#12: every corpus attack input is refused by the agent or read exactly as llhttp reads it', async (t) => {
  // The corpus alone, with what the agent did to each: a readable record of the attacks.
  for (const s of CORPUS) {
    const a = agentSide(B(s), [1]);
    const n = await nodeSide(B(s));
    if (extensionMethodOnly(a, n)) continue;
    t.is(disagreement(a, n), undefined, JSON.stringify(s));
  }
});
