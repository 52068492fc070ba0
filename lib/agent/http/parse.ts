// HTTP/1.1 message heads and framing for the agent's per-request router (RFC 9112).
//
// Only what routing needs: where a head ends, what it says, and where the body after it ends.
// Nothing here rewrites bytes: the router forwards the raw head and the raw body (chunk-size lines
// and trailers included), so a message leaves the agent exactly as it came in.
//
// Strict where peers could disagree (request smuggling, RFC 9112 §11.2): lines end in CRLF only,
// one Content-Length of digits only, Transfer-Encoding never with Content-Length and ending in
// chunked, no obs-fold, no whitespace in framing fields but SP, chunk lines and trailers by their
// grammar. Anything else is refused before a byte of it is forwarded. test/unit/agent/http/
// differential.test.ts holds this against Node's own parser (llhttp): what it refuses, we refuse.
//
// Pure functions and small state machines over Buffers; no sockets, no timers.
import { HTTP_MAX_CHUNK_LINE_BYTES, HTTP_MAX_FIELDS, HTTP_MAX_HEAD_BYTES, HTTP_MAX_START_LINE_BYTES } from '../../common/limits.js';

/** A message the agent refuses; `status` is what the client gets (4xx/5xx) before the close. Not a
 * TpError: it becomes an HTTP answer on the connection it came from, never a tp error body. */
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
  maxStartLine: HTTP_MAX_START_LINE_BYTES,
  maxHead: HTTP_MAX_HEAD_BYTES,
  maxFields: HTTP_MAX_FIELDS,
  maxChunkLine: HTTP_MAX_CHUNK_LINE_BYTES,
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
/** OWS is SP and HTAB only (RFC 9110 §5.6.3). String.prototype.trim() also strips NBSP (0xA0 in
 * latin1), VT, FF and more: a `Content-Length: \xA05` would pass as 5 here and fail elsewhere. */
const trimOws = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, '');

/** Leading CR/LF bytes the sniffer looks past before it calls a connection HTTP anyway. */
const MAX_SNIFF_EMPTY = 1024;

/**
 * Sniff the first bytes of a connection: HTTP/1 starts with a method token and a space, maybe after
 * empty lines (RFC 9112 §2.2 lets servers skip them, and the app's parser does). Those are looked
 * past here exactly as the app would, so a request behind an empty line is parsed (and filtered)
 * by the agent too, never handed to the app whole. 'http' / 'other' once decided, 'more' while the
 * bytes seen could still be either.
 */
export function sniffHttp(b: Buffer): 'http' | 'other' | 'more' {
  let lead = 0;
  while (lead < b.length && (b[lead] === CR || b[lead] === LF)) lead++;
  // Only line ends so far: keep looking, up to a bound; past it the head collector refuses them.
  if (lead === b.length) return lead > MAX_SNIFF_EMPTY ? 'http' : 'more';
  // Longest registered method is 17 chars (e.g. VERSION-CONTROL); 24 leaves room for extensions.
  const n = Math.min(b.length, lead + 24);
  for (let i = lead; i < n; i++) {
    const c = b[i]!;
    if (c === 0x20) return i > lead ? 'http' : 'other';
    if (!isTchar(c)) return 'other';
  }
  return b.length >= lead + 24 ? 'other' : 'more';
}

/**
 * A TLS ClientHello (RFC 8446 §5.1, §4.1.2): a handshake record (22) whose legacy version is 3.x,
 * carrying a client_hello (1). 'more' while fewer than the 6 bytes that say so have arrived.
 * On a port with HTTP filters such a connection cannot be routed by its requests.
 */
export function sniffTls(b: Buffer): 'tls' | 'no' | 'more' {
  if (b.length === 0) return 'more';
  if (b[0] !== 0x16) return 'no';
  if (b.length >= 2 && b[1] !== 0x03) return 'no';
  if (b.length >= 3 && b[2]! > 0x04) return 'no';
  if (b.length < 6) return 'more';
  return b[5] === 0x01 ? 'tls' : 'no';
}

/**
 * Collects bytes until the empty line that ends a head; enforces the size limits and the line
 * grammar as bytes arrive, so a peer cannot make the agent hold more than `maxHead` per message
 * and a bad line end is refused at once.
 *
 * RFC 9112 §2.2: lines end in CRLF. A recipient MAY accept a bare LF, and a bare CR may be read as
 * SP — which is how two parsers end up disagreeing on where a head ends; both are refused here, as
 * is `CR CR LF` (a CR not followed by LF). Before a request line, empty lines (CRLF) are skipped
 * and not forwarded; any other byte there starts the request line.
 */
export class HeadCollector {
  #parts: Buffer[] = [];
  #size = 0; // head bytes held
  #skipped = 0; // bytes of empty lines dropped before the start line
  #lineLen = 0; // bytes of the current line, its CRLF excluded
  #lines = 0; // complete lines so far
  #cr = false; // the previous byte was a CR: only LF may follow

  constructor(
    private readonly kind: 'request' | 'response',
    private readonly limits: Limits = DEFAULT_LIMITS,
  ) {}

  /** Bytes held so far. */
  get size(): number {
    return this.#size;
  }

  /** Whether any byte of a head (not just empty lines) has arrived. */
  get started(): boolean {
    return this.#lines > 0 || this.#lineLen > 0;
  }

  /**
   * Feed bytes. Returns the raw head (final CRLF included) and what follows it in `chunk`, or null
   * if the head is still incomplete. Throws HttpParseError on a limit or a bad line end.
   */
  push(chunk: Buffer): { head: Buffer; rest: Buffer } | null {
    const { maxHead, maxStartLine, maxFields } = this.limits;
    let start = 0; // where the head's bytes begin in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const leading = this.#lines === 0 && this.#lineLen === 0;
      if (this.#cr) {
        this.#cr = false;
        if (c !== LF) this.#bad('a CR not followed by LF');
        if (this.#lineLen > 0) {
          this.#lines++;
          this.#lineLen = 0;
          if (this.#lines > maxFields + 1) {
            throw new HttpParseError(431, 'E_HTTP_TOO_MANY_FIELDS', `the ${this.kind} head has more than ${maxFields} header fields`);
          }
          continue;
        }
        if (this.#lines === 0) {
          if (this.kind === 'response') this.#bad('an empty line before the status line');
          // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line
          // (old clients send CRLF after a POST body). Not forwarded; bounded like a head.
          this.#skipped += 2;
          if (this.#skipped > maxStartLine) this.#bad('too many empty lines before the request line');
          start = i + 1;
          continue;
        }
        const end = i + 1;
        if (this.#size + end - start > maxHead) this.#tooLarge();
        this.#parts.push(chunk.subarray(start, end));
        const head = this.#parts.length === 1 ? Buffer.from(this.#parts[0]!) : Buffer.concat(this.#parts);
        this.#parts = [];
        this.#size = 0;
        return { head, rest: chunk.subarray(end) };
      }
      if (c === CR) {
        this.#cr = true;
        // A CR before the start line belongs to an empty line or is an error: never to the head.
        if (leading) start = i + 1;
        continue;
      }
      if (c === LF) this.#bad('a bare LF line end');
      this.#lineLen++;
      if (this.#lines === 0 && this.#lineLen > maxStartLine) {
        if (this.kind === 'request')
          throw new HttpParseError(414, 'E_HTTP_URI_TOO_LONG', `the request line is longer than ${maxStartLine} bytes`);
        throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the status line is longer than ${maxStartLine} bytes`);
      }
    }
    if (start < chunk.length) {
      this.#size += chunk.length - start;
      if (this.#size > maxHead) this.#tooLarge();
      this.#parts.push(chunk.subarray(start));
    }
    return null;
  }

  #bad(what: string): never {
    if (this.kind === 'request')
      throw new HttpParseError(400, 'E_HTTP_LINE_END', `the request head has ${what} (RFC 9112 §2.2: CRLF only)`);
    throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the response head has ${what}`);
  }

  #tooLarge(): never {
    if (this.kind === 'request')
      throw new HttpParseError(431, 'E_HTTP_HEAD_TOO_LARGE', `the request head is larger than ${this.limits.maxHead} bytes`);
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

/** The lines of a head that ends with an empty line; every line must end in CRLF. */
function splitLines(raw: Buffer, what: 'request' | 'response'): string[] {
  const s = raw.toString('latin1');
  const bad = what === 'request' ? 400 : 502;
  if (!s.endsWith('\r\n\r\n'))
    throw new HttpParseError(bad, 'E_HTTP_LINE_END', `the ${what} head does not end with an empty line (CRLF CRLF)`);
  const lines = s.slice(0, -4).split('\r\n');
  for (const l of lines) {
    // RFC 9112 §2.2: a bare CR is invalid (or to be read as SP) and a bare LF may be read as a line
    // end; we refuse both, since peers that disagree on where a line ends disagree on where a
    // message ends (request smuggling).
    if (l.includes('\r') || l.includes('\n'))
      throw new HttpParseError(bad, 'E_HTTP_LINE_END', `the ${what} head has a bare CR or LF (RFC 9112 §2.2: CRLF only)`);
  }
  return lines;
}

/** Fields that decide where a message ends, or whether another follows on the connection: any
 * doubt about them is a smuggling vector. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection']);

function parseFields(lines: string[], what: 'request' | 'response'): Pick<Head, 'fields' | 'byName'> {
  const bad = what === 'request' ? 400 : 502;
  const fields: Array<[string, string]> = [];
  const byName = new Map<string, string[]>();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith(' ') || l.startsWith('\t')) {
      // RFC 9112 §5.2: obs-fold in a request → 400 (a proxy may not forward it either).
      throw new HttpParseError(bad, 'E_HTTP_OBS_FOLD', `the ${what} head uses obsolete line folding (line ${i + 1})`);
    }
    const colon = l.indexOf(':');
    if (colon <= 0) throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `line ${i + 1} of the ${what} head is not a header field`);
    const name = l.slice(0, colon);
    // RFC 9112 §5.1: no whitespace between the field name and the colon (→ 400).
    if (!TOKEN_RE.test(name)) throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `the header name ${JSON.stringify(name)} is not a token`);
    const raw = l.slice(colon + 1);
    const value = trimOws(raw);
    if (BAD_VALUE_RE.test(value))
      throw new HttpParseError(bad, 'E_HTTP_BAD_FIELD', `the value of header ${name} contains a control character`);
    const k = name.toLowerCase();
    // A tab around a framing value is OWS to us but not to every parser (llhttp refuses
    // `Content-Length: 5<TAB>`): refuse it rather than guess how the next hop reads it.
    if (FRAMING.has(k) && raw.includes('\t'))
      throw new HttpParseError(bad, 'E_HTTP_FRAMING', `the ${name} header of the ${what} contains a tab`);
    fields.push([name, value]);
    const prev = byName.get(k);
    if (prev) prev.push(value);
    else byName.set(k, [value]);
  }
  return { fields, byName };
}

/** The HTTP/2 connection preface (RFC 9113 §3.4) parses as this request head. */
export const isH2Preface = (h: RequestHead) => h.method === 'PRI' && h.target === '*' && h.versionMajor === 2;

// request-target forms (RFC 9112 §3.2), visible ASCII only: origin-form, absolute-form,
// authority-form (CONNECT only) and asterisk-form (OPTIONS only).
const ABSOLUTE_FORM_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/;
const AUTHORITY_FORM_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+):\d{1,5}$/;

export function parseRequestHead(raw: Buffer): RequestHead {
  const lines = splitLines(raw, 'request');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError(400, 'E_HTTP_BAD_REQUEST_LINE', 'the request line is not "METHOD target HTTP/1.x"');
  const versionMajor = Number(m[3]);
  const versionMinor = Number(m[4]);
  const { fields, byName } = parseFields(lines, 'request');
  const method = m[1]!;
  const target = m[2]!;
  const head: RequestHead = { raw, method, target, path: pathOf(target), versionMajor, versionMinor, fields, byName };
  if (isH2Preface(head)) return head;
  if (versionMajor !== 1 || versionMinor > 1)
    throw new HttpParseError(505, 'E_HTTP_VERSION', `HTTP/${versionMajor}.${versionMinor} is not supported on an HTTP/1 connection`);
  const form =
    method === 'CONNECT'
      ? AUTHORITY_FORM_RE.test(target)
      : target.startsWith('/') || ABSOLUTE_FORM_RE.test(target) || (target === '*' && method === 'OPTIONS');
  if (!form)
    throw new HttpParseError(
      400,
      'E_HTTP_BAD_REQUEST_LINE',
      `the request target ${JSON.stringify(target.slice(0, 64))} is not valid for ${method}`,
    );
  // RFC 9110 §7.8: a server MUST ignore Upgrade in an HTTP/1.0 request, but llhttp (and so a Node
  // app) switches on it and reads no further request: refused, as nobody sends it in earnest.
  if (versionMinor === 0 && byName.has('upgrade') && tokens({ byName } as Head, 'connection').includes('upgrade')) {
    throw new HttpParseError(400, 'E_HTTP_UPGRADE', 'an HTTP/1.0 request cannot ask to upgrade');
  }
  // RFC 9112 §3.2: a 1.1 request without exactly one Host field gets 400.
  const hosts = byName.get('host');
  if (versionMinor >= 1 && hosts?.length !== 1)
    throw new HttpParseError(400, 'E_HTTP_HOST', 'an HTTP/1.1 request needs exactly one Host header');
  return head;
}

export function parseResponseHead(raw: Buffer): ResponseHead {
  const lines = splitLines(raw, 'response');
  const m = /^HTTP\/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(lines[0] ?? '');
  if (!m) throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', 'the status line is not "HTTP/1.x NNN reason"');
  if (m[1] !== '1' || Number(m[2]) > 1)
    throw new HttpParseError(502, 'E_HTTP_BAD_RESPONSE', `the upstream answered with HTTP/${m[1]}.${m[2]}`);
  const { fields, byName } = parseFields(lines, 'response');
  return { raw, versionMajor: 1, versionMinor: Number(m[2]), status: Number(m[3]), reason: m[4] ?? '', fields, byName };
}

function pathOf(target: string): string {
  if (target.startsWith('/')) return target;
  // absolute-form (RFC 9112 §3.2.2): scheme://authority/path?query
  const m = ABSOLUTE_FORM_RE.exec(target);
  if (m) return m[1] || '/';
  return target; // authority-form (CONNECT) or asterisk-form
}

/** Comma-separated tokens of all fields called `name`, lower-cased. */
export function tokens(h: Head, name: string): string[] {
  const out: string[] = [];
  for (const v of h.byName.get(name) ?? []) {
    for (const t of v.split(',')) {
      const s = trimOws(t).toLowerCase();
      if (s) out.push(s);
    }
  }
  return out;
}

export type BodyKind = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' }; // response only: ends when the upstream closes

/**
 * RFC 9112 §6.3 item 5 lets a recipient take `Content-Length: 5, 5` (or two equal lines) as 5;
 * llhttp refuses both, and a hop that refuses what we forwarded is out of step with us. So: one
 * field line, digits only (SP around it at most: tabs were refused with the fields).
 */
function contentLength(h: Head, bad: number, what: string): number | undefined {
  const vals = h.byName.get('content-length');
  if (!vals) return undefined;
  if (vals.length > 1) throw new HttpParseError(bad, 'E_HTTP_CONTENT_LENGTH', `the ${what} has more than one Content-Length`);
  const v = vals[0]!;
  if (!/^\d{1,15}$/.test(v))
    throw new HttpParseError(bad, 'E_HTTP_CONTENT_LENGTH', `the ${what} has an invalid Content-Length ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

/**
 * The transfer codings, lower-cased, in order (RFC 9112 §6.1). Every element must be a token (no
 * empty list elements, no parameters) and chunked may appear once, last (§7.1: a sender MUST NOT
 * apply chunked more than once). Returns undefined without the field.
 */
function transferCodings(h: Head, bad: number, what: string): string[] | undefined {
  const vals = h.byName.get('transfer-encoding');
  if (!vals) return undefined;
  const out: string[] = [];
  for (const v of vals) {
    for (const part of v.split(',')) {
      const t = part.replace(/^ +| +$/g, '');
      if (!TOKEN_RE.test(t))
        throw new HttpParseError(bad, 'E_HTTP_TE', `the ${what} has an invalid Transfer-Encoding ${JSON.stringify(v.slice(0, 40))}`);
      out.push(t.toLowerCase());
    }
  }
  const i = out.indexOf('chunked');
  if (i >= 0 && i !== out.length - 1)
    throw new HttpParseError(bad, 'E_HTTP_TE', `the ${what} applies chunked before another transfer coding`);
  return out;
}

/** RFC 9112 §6.3 for requests. */
export function requestBody(h: RequestHead): BodyKind {
  const te = transferCodings(h, 400, 'request');
  if (te) {
    // Both headers is the classic smuggling vector; a proxy that picks one disagrees with someone.
    if (h.byName.has('content-length'))
      throw new HttpParseError(400, 'E_HTTP_TE_AND_CL', 'the request has both Transfer-Encoding and Content-Length');
    if (h.versionMinor === 0) throw new HttpParseError(400, 'E_HTTP_TE', 'an HTTP/1.0 request cannot use Transfer-Encoding');
    // §6.3 item 4: chunked not last → 400 and close.
    if (te[te.length - 1] !== 'chunked')
      throw new HttpParseError(400, 'E_HTTP_TE', 'the request Transfer-Encoding does not end with chunked');
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
  const te = transferCodings(h, 502, 'response');
  if (te) {
    // §6.3 item 3 lets Transfer-Encoding win, but the client behind us may pick the other one.
    if (h.byName.has('content-length'))
      throw new HttpParseError(502, 'E_HTTP_TE_AND_CL', 'the response has both Transfer-Encoding and Content-Length');
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
  return h.method === 'CONNECT' || asksUpgrade(h);
}

/**
 * A request a `101 Switching Protocols` may answer (RFC 9110 §7.8): it carries Upgrade, lists
 * upgrade in Connection (Upgrade is hop-by-hop), and is HTTP/1.1 (a server MUST ignore Upgrade in
 * an HTTP/1.0 request).
 */
export function asksUpgrade(h: RequestHead): boolean {
  return h.versionMinor >= 1 && h.byName.has('upgrade') && tokens(h, 'connection').includes('upgrade');
}

export const expectsContinue = (h: RequestHead) => tokens(h, 'expect').includes('100-continue');

const enum Chunk {
  Size,
  ExtName,
  ExtNameMore,
  ExtValue,
  ExtToken,
  ExtQuoted,
  ExtQuotedEscape,
  ExtQuotedEnd,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
}

// qdtext and quoted-pair (RFC 9110 §5.6.4): HTAB, SP, VCHAR except " and \, obs-text.
const isQdtext = (c: number) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
const isQuotedPairChar = (c: number) => c === 0x09 || c === 0x20 || (c >= 0x21 && c <= 0x7e) || c >= 0x80;

/**
 * Finds where a body ends without copying it: `feed` says how many leading bytes of a chunk belong
 * to the body. For chunked bodies it walks the chunk-size lines, extensions and trailers (which stay
 * in the forwarded bytes, unchanged) by their grammar. Throws HttpParseError on malformed framing.
 */
export class BodyFramer {
  done: boolean;
  #remaining: number; // length bodies and chunk data
  #state = Chunk.Size;
  #digits = 0;
  #lineLen = 0;
  #trailerBytes = 0;
  #trailerFields = 0;
  #trailerLine = ''; // the trailer field being read (latin1), checked at its CRLF

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

  #extByte(): void {
    if (++this.#lineLen > this.limits.maxChunkLine) this.#fail('chunk extensions too long');
  }

  // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk; trailer-section; CRLF.
  // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) (§7.1.1). BWS is
  // refused here, as llhttp refuses it: "5 ;x" is a chunk size to some parsers and garbage to others.
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
            this.#state = Chunk.ExtName;
          } else {
            this.#fail('bad character after the chunk size');
          }
          break;
        }
        case Chunk.ExtName:
          this.#extByte();
          if (!isTchar(c)) this.#fail('a chunk extension name must be a token');
          this.#state = Chunk.ExtNameMore;
          break;
        case Chunk.ExtNameMore:
          this.#extByte();
          if (c === CR) this.#state = Chunk.SizeLf;
          else if (c === 0x3b) this.#state = Chunk.ExtName;
          else if (c === 0x3d) this.#state = Chunk.ExtValue;
          else if (!isTchar(c)) this.#fail('bad character in a chunk extension name');
          break;
        case Chunk.ExtValue:
          this.#extByte();
          if (c === 0x22) this.#state = Chunk.ExtQuoted;
          else if (isTchar(c)) this.#state = Chunk.ExtToken;
          else this.#fail('a chunk extension value must be a token or a quoted string');
          break;
        case Chunk.ExtToken:
          this.#extByte();
          if (c === CR) this.#state = Chunk.SizeLf;
          else if (c === 0x3b) this.#state = Chunk.ExtName;
          else if (!isTchar(c)) this.#fail('bad character in a chunk extension value');
          break;
        case Chunk.ExtQuoted:
          this.#extByte();
          if (c === 0x22) this.#state = Chunk.ExtQuotedEnd;
          else if (c === 0x5c) this.#state = Chunk.ExtQuotedEscape;
          else if (!isQdtext(c)) this.#fail('bad character in a quoted chunk extension value');
          break;
        case Chunk.ExtQuotedEscape:
          this.#extByte();
          if (!isQuotedPairChar(c)) this.#fail('bad escape in a quoted chunk extension value');
          this.#state = Chunk.ExtQuoted;
          break;
        case Chunk.ExtQuotedEnd:
          this.#extByte();
          if (c === CR) this.#state = Chunk.SizeLf;
          else if (c === 0x3b) this.#state = Chunk.ExtName;
          else this.#fail('bad character after a quoted chunk extension value');
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
            this.#trailerLine = String.fromCharCode(c);
            this.#countTrailer();
          }
          break;
        case Chunk.Trailer:
          if (c === CR) this.#state = Chunk.TrailerLf;
          else if (c === LF) this.#fail('bare LF in a trailer field');
          else this.#trailerLine += String.fromCharCode(c);
          this.#countTrailer();
          break;
        case Chunk.TrailerLf:
          if (c !== LF) this.#fail('trailer field not ended by CRLF');
          this.#checkTrailer();
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

  /** A trailer field has the grammar of a header field (RFC 9112 §7.1.2, §5). */
  #checkTrailer(): void {
    const l = this.#trailerLine;
    this.#trailerLine = '';
    const colon = l.indexOf(':');
    if (colon <= 0 || !TOKEN_RE.test(l.slice(0, colon))) this.#fail('a trailer line is not a header field');
    if (BAD_VALUE_RE.test(trimOws(l.slice(colon + 1)))) this.#fail('a control character in a trailer field');
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
