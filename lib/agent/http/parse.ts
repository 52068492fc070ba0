// HTTP/1.1 message heads and framing for the agent's per-request router (RFC 9112).
//
// Only what routing needs: where a head ends, what it says, and where the body after it ends.
// Nothing here rewrites bytes: the router forwards the raw head and the raw body (chunk-size lines
// and trailers included), so a message leaves the agent exactly as it came in.
//
// Pure functions and small state machines over Buffers; no sockets, no timers.

/** A message the agent refuses; `status` is what the client gets (4xx/5xx) before the close. */
export class HttpParseError extends Error {
  constructor(
    readonly status: number,
    readonly code: `E_HTTP_${string}`,
    message: string,
  ) {
    super(message);
    this.name = 'HttpParseError';
  }
}

export interface Limits {
  /** Request line or status line, CRLF included (longer request line → 414). */
  maxStartLine: number;
  /** The whole head: start line, fields, final CRLF (larger → 431). */
  maxHead: number;
  /** Field lines in a head or a trailer section (more → 431). */
  maxFields: number;
  /** A chunk-size line with its extensions (longer → 400). */
  maxChunkLine: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxStartLine: 8 * 1024,
  maxHead: 64 * 1024,
  maxFields: 128,
  maxChunkLine: 4 * 1024,
};

const CR = 0x0d;
const LF = 0x0a;

// tchar (RFC 9110 §5.6.2), as a lookup table over bytes.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
export const isTchar = (c: number) => TCHAR[c] === 1;

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5); CR, LF and NUL are the dangerous ones.
const BAD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Sniff the first bytes of a connection: HTTP/1 starts with a method token and a space.
 * 'http' / 'other' once decided, 'more' while the bytes seen are a token prefix.
 */
export function sniffHttp(b: Buffer): 'http' | 'other' | 'more' {
  // Longest registered method is 17 chars (e.g. VERSION-CONTROL); 24 leaves room for extensions.
  const n = Math.min(b.length, 24);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 0x20) return i > 0 ? 'http' : 'other';
    if (!isTchar(c)) return 'other';
  }
  return b.length >= 24 ? 'other' : 'more';
}

/**
 * Collects bytes until the empty line that ends a head; enforces the size limits as bytes arrive,
 * so a peer cannot make the agent hold more than `maxHead` per message.
 */
export class HeadCollector {
  #parts: Buffer[] = [];
  #size = 0;
  #lineLen = 0; // bytes of the current line, CR excluded
  #lines = 0; // complete lines so far
  #skipLeading: boolean;

  constructor(
    private readonly kind: 'request' | 'response',
    private readonly limits: Limits = DEFAULT_LIMITS,
  ) {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line
    // (old clients send CRLF after a POST body).
    this.#skipLeading = kind === 'request';
  }

  /** Bytes held so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Feed bytes. Returns the raw head (final CRLF included) and what follows it in `chunk`, or null
   * if the head is still incomplete. Throws HttpParseError on a limit.
   */
  push(chunk: Buffer): { head: Buffer; rest: Buffer } | null {
    let start = 0;
    if (this.#skipLeading) {
      while (start < chunk.length && (chunk[start] === CR || chunk[start] === LF)) start++;
      if (start === chunk.length) return null;
      this.#skipLeading = false;
    }
    const { maxHead, maxStartLine, maxFields } = this.limits;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === LF) {
        if (this.#lineLen === 0 && this.#lines > 0) {
          const end = i + 1;
          if (this.#size + end - start > maxHead) this.#tooLarge();
          this.#parts.push(chunk.subarray(start, end));
          const head = this.#parts.length === 1 ? Buffer.from(this.#parts[0]!) : Buffer.concat(this.#parts);
          this.#parts = [];
          this.#size = 0;
          return { head, rest: chunk.subarray(end) };
        }
        this.#lines++;
        this.#lineLen = 0;
        if (this.#lines > maxFields + 1) {
          throw new HttpParseError(431, 'E_HTTP_TOO_MANY_FIELDS', `the ${this.kind} head has more than ${maxFields} header fields`);
        }
      } else if (c !== CR) {
        this.#lineLen++;
        if (this.#lines === 0 && this.#lineLen > maxStartLine) {
          if (this.kind === 'request') throw new HttpParseError(414, 'E_HTTP_URI_TOO_LONG', `the request line is longer than ${maxStartLine} bytes`);
          throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the status line is longer than ${maxStartLine} bytes`);
        }
      }
    }
    this.#size += chunk.length - start;
    if (this.#size > maxHead) this.#tooLarge();
    this.#parts.push(chunk.subarray(start));
    return null;
  }

  #tooLarge(): never {
    if (this.kind === 'request') throw new HttpParseError(431, 'E_HTTP_HEAD_TOO_LARGE', `the request head is larger than ${this.limits.maxHead} bytes`);
    throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the response head is larger than ${this.limits.maxHead} bytes`);
  }
}

/** A parsed head. `fields` keeps the original case and order; lookups are case-insensitive. */
export interface Head {
  raw: Buffer;
  versionMajor: number;
  versionMinor: number;
  fields: Array<[name: string, value: string]>;
  /** Lower-cased name → values in order of appearance. */
  byName: Map<string, string[]>;
}

export interface RequestHead extends Head {
  method: string;
  target: string;
  /** The path of the target (origin-form as is; absolute-form reduced to its path). */
  path: string;
}

export interface ResponseHead extends Head {
  status: number;
  reason: string;
}

function splitLines(raw: Buffer, what: 'request' | 'response'): string[] {
  const s = raw.toString('latin1');
  // The head ends with an empty line; drop it and the final line break.
  const lines = s.split('\n');
  lines.length -= 2; // '' after the last LF, and the empty line itself
  const bad = what === 'request' ? 400 : 502;
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    if (l.endsWith('\r')) l = l.slice(0, -1);
    // RFC 9112 §2.2: a bare CR is invalid (or to be read as SP); we refuse it, since peers that
    // disagree on where a line ends disagree on where a message ends (request smuggling).
    if (l.includes('\r')) throw new HttpParseError(bad, 'E_HTTP_BARE_CR', `the ${what} head contains a bare CR`);
    lines[i] = l;
  }
  return lines;
}

function parseFields(lines: string[], what: 'request' | 'response'): Pick<Head, 'fields' | 'byName'> {
  const bad = what === 'request' ? 400 : 502;
  const fields: Array<[string, string]> = [];
  const byName = new Map<string, string[]>();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith(' ') || l.startsWith('\t')) {
      // RFC 9112 §5.2: obs-fold in a request → 400.
      throw new HttpParseError(bad, 'E_HTTP_OBS_FOLD', `the ${what} head uses obsolete line folding (line ${i + 1})`);
    }
    const colon = l.indexOf(':');
    if (colon <= 0) throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `line ${i + 1} of the ${what} head is not a header field`);
    const name = l.slice(0, colon);
    // RFC 9112 §5.1: no whitespace between the field name and the colon (→ 400).
    if (!TOKEN_RE.test(name)) throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `the header name ${JSON.stringify(name)} is not a token`);
    const value = l.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE_RE.test(value)) throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `the value of header ${name} contains a control character`);
    fields.push([name, value]);
    const k = name.toLowerCase();
    const prev = byName.get(k);
    if (prev) prev.push(value);
    else byName.set(k, [value]);
  }
  return { fields, byName };
}

/** The HTTP/2 connection preface (RFC 9113 §3.4) parses as this request head. */
export const isH2Preface = (h: RequestHead) => h.method === 'PRI' && h.target === '*' && h.versionMajor === 2;

export function parseRequestHead(raw: Buffer): RequestHead {
  const lines = splitLines(raw, 'request');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/(\d)\.(\d)$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError(400, 'E_HTTP_BAD_REQUEST_LINE', 'the request line is not "METHOD target HTTP/1.x"');
  const versionMajor = Number(m[3]);
  const versionMinor = Number(m[4]);
  const { fields, byName } = parseFields(lines, 'request');
  const head: RequestHead = { raw, method: m[1]!, target: m[2]!, path: pathOf(m[2]!), versionMajor, versionMinor, fields, byName };
  if (isH2Preface(head)) return head;
  if (versionMajor !== 1) throw new HttpParseError(505, 'E_HTTP_VERSION', `HTTP/${versionMajor}.${versionMinor} is not supported on an HTTP/1 connection`);
  // RFC 9112 §3.2: a 1.1 request without exactly one Host field gets 400.
  const hosts = byName.get('host');
  if (versionMinor >= 1 && hosts?.length !== 1) throw new HttpParseError(400, 'E_HTTP_HOST', 'an HTTP/1.1 request needs exactly one Host header');
  return head;
}

export function parseResponseHead(raw: Buffer): ResponseHead {
  const lines = splitLines(raw, 'response');
  const m = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', 'the status line is not "HTTP/1.x NNN reason"');
  if (m[1] !== '1') throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the upstream answered with HTTP/${m[1]}.${m[2]}`);
  const { fields, byName } = parseFields(lines, 'response');
  return { raw, versionMajor: 1, versionMinor: Number(m[2]), status: Number(m[3]), reason: m[4] ?? '', fields, byName };
}

function pathOf(target: string): string {
  if (target.startsWith('/')) return target;
  // absolute-form (RFC 9112 §3.2.2): scheme://authority/path?query
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
  if (m) return m[1] || '/';
  return target; // authority-form (CONNECT) or asterisk-form
}

/** Comma-separated tokens of all fields called `name`, lower-cased. */
export function tokens(h: Head, name: string): string[] {
  const out: string[] = [];
  for (const v of h.byName.get(name) ?? []) {
    for (const t of v.split(',')) {
      const s = t.trim().toLowerCase();
      if (s) out.push(s);
    }
  }
  return out;
}

export type BodyKind =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'close' }; // response only: ends when the upstream closes

function contentLength(h: Head, bad: number, what: string): number | undefined {
  const vals = h.byName.get('content-length');
  if (!vals) return undefined;
  let n: number | undefined;
  // RFC 9110 §8.6: a list of identical values may be taken as one; differing values are an error.
  for (const v of vals) {
    for (const part of v.split(',')) {
      const p = part.trim();
      if (!/^\d{1,15}$/.test(p)) throw new HttpParseError(bad, 'E_HTTP_CONTENT_LENGTH', `the ${what} has an invalid Content-Length ${JSON.stringify(v)}`);
      const x = Number(p);
      if (n !== undefined && n !== x) throw new HttpParseError(bad, 'E_HTTP_CONTENT_LENGTH', `the ${what} has conflicting Content-Length values`);
      n = x;
    }
  }
  return n;
}

/** RFC 9112 §6.3 for requests. */
export function requestBody(h: RequestHead): BodyKind {
  const te = h.byName.has('transfer-encoding') ? tokens(h, 'transfer-encoding') : undefined;
  if (te) {
    // Both headers is the classic smuggling vector; a proxy that picks one disagrees with someone.
    if (h.byName.has('content-length')) throw new HttpParseError(400, 'E_HTTP_TE_AND_CL', 'the request has both Transfer-Encoding and Content-Length');
    if (h.versionMinor === 0) throw new HttpParseError(400, 'E_HTTP_TE', 'an HTTP/1.0 request cannot use Transfer-Encoding');
    // §6.3 item 4: chunked not last → 400 and close.
    if (te[te.length - 1] !== 'chunked') throw new HttpParseError(400, 'E_HTTP_TE', 'the request Transfer-Encoding does not end with chunked');
    return { kind: 'chunked' };
  }
  const n = contentLength(h, 400, 'request');
  if (n !== undefined && n > 0) return { kind: 'length', length: n };
  // §6.3 item 7: neither → no body, whatever the method.
  return { kind: 'none' };
}

export type ResponseKind =
  | BodyKind
  | { kind: 'interim' } // 1xx other than 101: another head follows for the same request
  | { kind: 'switch' }; // 101, or 2xx to CONNECT: the connection stops being HTTP

/** RFC 9112 §6.3 for responses; `method` is the request's. */
export function responseBody(h: ResponseHead, method: string): ResponseKind {
  if (h.status === 101) return { kind: 'switch' };
  if (h.status < 200) return { kind: 'interim' };
  if (method === 'CONNECT' && h.status < 300) return { kind: 'switch' };
  if (method === 'HEAD' || h.status === 204 || h.status === 304) return { kind: 'none' };
  if (h.byName.has('transfer-encoding')) {
    const te = tokens(h, 'transfer-encoding');
    return te[te.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const n = contentLength(h, 502, 'response');
  if (n !== undefined) return n > 0 ? { kind: 'length', length: n } : { kind: 'none' };
  return { kind: 'close' };
}

/** Whether the connection may carry another message after this one (RFC 9112 §9.3). */
export function keepsAlive(h: Head): boolean {
  const c = tokens(h, 'connection');
  if (c.includes('close')) return false;
  return h.versionMinor >= 1 || c.includes('keep-alive');
}

/** A request that asks to switch protocols (WebSocket) or to tunnel. */
export function wantsSwitch(h: RequestHead): boolean {
  return h.method === 'CONNECT' || (h.byName.has('upgrade') && tokens(h, 'connection').includes('upgrade'));
}

export const expectsContinue = (h: RequestHead) => tokens(h, 'expect').includes('100-continue');

const enum Chunk {
  Size,
  SizeBws,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
}

/**
 * Finds where a body ends without copying it: `feed` says how many leading bytes of a chunk belong
 * to the body. For chunked bodies it walks the chunk-size lines, extensions and trailers (which stay
 * in the forwarded bytes, unchanged). Throws HttpParseError on malformed framing.
 */
export class BodyFramer {
  done: boolean;
  #remaining: number; // length bodies and chunk data
  #state = Chunk.Size;
  #digits = 0;
  #lineLen = 0;
  #trailerBytes = 0;
  #trailerFields = 0;

  constructor(
    readonly kind: BodyKind,
    private readonly bad: number = 400,
    private readonly limits: Limits = DEFAULT_LIMITS,
  ) {
    this.done = kind.kind === 'none' || (kind.kind === 'length' && kind.length === 0);
    this.#remaining = kind.kind === 'length' ? kind.length : 0;
  }

  /** Bytes of `b` (from its start) that belong to the body; `done` turns true at its end. */
  feed(b: Buffer): number {
    if (this.done) return 0;
    switch (this.kind.kind) {
      case 'close':
        return b.length;
      case 'length': {
        const n = Math.min(this.#remaining, b.length);
        this.#remaining -= n;
        if (this.#remaining === 0) this.done = true;
        return n;
      }
      case 'chunked':
        return this.#chunked(b);
      default:
        return 0;
    }
  }

  /** The body ended with the connection: fine only for close-delimited bodies. */
  eof(): boolean {
    if (this.kind.kind === 'close') this.done = true;
    return this.done;
  }

  #fail(msg: string): never {
    throw new HttpParseError(this.bad, 'E_HTTP_CHUNKED', `malformed chunked body: ${msg}`);
  }

  // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk; trailer-section; CRLF.
  #chunked(b: Buffer): number {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.#state === Chunk.Data) {
        const take = Math.min(this.#remaining, n - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = Chunk.DataCr;
        continue;
      }
      const c = b[i++]!;
      switch (this.#state) {
        case Chunk.Size: {
          const d = hexVal(c);
          if (d >= 0) {
            // 13 hex digits ≤ 2^52: exact in a double.
            if (++this.#digits > 13) this.#fail('chunk size too large');
            this.#remaining = this.#remaining * 16 + d;
          } else if (this.#digits === 0) {
            this.#fail('expected a hex chunk size');
          } else if (c === CR) {
            this.#state = Chunk.SizeLf;
          } else if (c === 0x3b) {
            this.#state = Chunk.Ext;
          } else if (c === 0x20 || c === 0x09) {
            this.#state = Chunk.SizeBws; // BWS before ';' (RFC 9112 §7.1.1)
          } else {
            this.#fail('bad character after the chunk size');
          }
          break;
        }
        case Chunk.SizeBws:
          // Only more whitespace, an extension or the line end: "5 6" must not pass as size 5.
          if (c === 0x3b) this.#state = Chunk.Ext;
          else if (c === CR) this.#state = Chunk.SizeLf;
          else if (c !== 0x20 && c !== 0x09) this.#fail('bad character after the chunk size');
          else if (++this.#lineLen > this.limits.maxChunkLine) this.#fail('chunk-size line too long');
          break;
        case Chunk.Ext:
          if (c === CR) this.#state = Chunk.SizeLf;
          else if (c === LF || (c < 0x20 && c !== 0x09) || c === 0x7f) this.#fail('bad character in a chunk extension');
          else if (++this.#lineLen > this.limits.maxChunkLine) this.#fail('chunk extensions too long');
          break;
        case Chunk.SizeLf:
          if (c !== LF) this.#fail('chunk-size line not ended by CRLF');
          this.#digits = 0;
          this.#lineLen = 0;
          this.#state = this.#remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (c !== CR) this.#fail('chunk data longer than its size');
          this.#state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (c !== LF) this.#fail('chunk data not ended by CRLF');
          this.#state = Chunk.Size;
          break;
        case Chunk.TrailerStart:
          if (c === CR) this.#state = Chunk.EndLf;
          else if (c === 0x20 || c === 0x09) this.#fail('obsolete line folding in the trailer section');
          else if (c === LF) this.#fail('bare LF in the trailer section');
          else {
            if (++this.#trailerFields > this.limits.maxFields) this.#fail('too many trailer fields');
            this.#state = Chunk.Trailer;
            this.#countTrailer();
          }
          break;
        case Chunk.Trailer:
          if (c === CR) this.#state = Chunk.TrailerLf;
          else if (c === LF || c === 0) this.#fail('bad character in a trailer field');
          this.#countTrailer();
          break;
        case Chunk.TrailerLf:
          if (c !== LF) this.#fail('trailer field not ended by CRLF');
          this.#state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (c !== LF) this.#fail('chunked body not ended by CRLF');
          this.done = true;
          return i;
      }
    }
    return i;
  }

  #countTrailer(): void {
    if (++this.#trailerBytes > this.limits.maxHead) this.#fail('trailer section too large');
  }
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
