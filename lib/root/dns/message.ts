// DNS messages (RFC 1035 §4, EDNS0 from RFC 6891): parse what arrives, build the few answers the
// root daemon gives itself. Forwarded traffic is never re-encoded (the server relays the bytes), so
// this codec only needs to read every message faithfully and write A/AAAA/empty answers.
//
// Untrusted input: every read is bounds-checked and any defect becomes a ParseError — the only
// exception parseMessage throws. Compression pointers must point strictly backwards (RFC 1035
// §4.1.4 says "prior occurrence"), which alone rules out loops; the 255-octet name limit and a jump
// cap bound the work per name.

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

/** Header flag bits (RFC 1035 §4.1.1). */
const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;

export const HEADER_LEN = 12;
const MAX_NAME = 255; // octets on the wire, length bytes included (RFC 1035 §2.3.4)
const MAX_JUMPS = 64; // backwards-only pointers already terminate; this bounds the work

export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    readonly code: 'E_DNS_SHORT' | 'E_DNS_LABEL' | 'E_DNS_POINTER' | 'E_DNS_NAME_TOO_LONG' | 'E_DNS_TRAILING',
    message: string,
  ) {
    super(message);
  }
}

export interface Question {
  /** Presentation form without the trailing dot; "" is the root. Bytes outside LDH are \DDD. */
  name: string;
  type: number;
  cls: number;
}

export interface ResourceRecord {
  name: string;
  type: number;
  cls: number;
  ttl: number;
  /** A view into the message: copy it if you keep it beyond the message buffer. */
  rdata: Buffer;
}

export interface Edns {
  /** The requester's UDP payload size (the OPT record's CLASS). */
  udpSize: number;
  extRcode: number;
  version: number;
  dnssecOk: boolean;
  /** Raw option TLVs, uninterpreted. */
  options: Buffer;
}

export interface Message {
  id: number;
  /** The raw 16-bit flags word; accessors below pick it apart. */
  flags: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  /** Without the OPT record, which is lifted into `edns`. */
  additionals: ResourceRecord[];
  edns?: Edns;
}

export const isResponse = (m: Pick<Message, 'flags'>) => (m.flags & QR) !== 0;
export const opcodeOf = (m: Pick<Message, 'flags'>) => (m.flags >> 11) & 0xf;
export const isTruncated = (m: Pick<Message, 'flags'>) => (m.flags & TC) !== 0;
export const recursionDesired = (m: Pick<Message, 'flags'>) => (m.flags & RD) !== 0;
export const recursionAvailable = (m: Pick<Message, 'flags'>) => (m.flags & RA) !== 0;
export const isAuthoritative = (m: Pick<Message, 'flags'>) => (m.flags & AA) !== 0;
/** The full rcode: the header's 4 bits plus EDNS's upper 8 (RFC 6891 §6.1.3). */
export const rcodeOf = (m: Pick<Message, 'flags' | 'edns'>) => ((m.edns?.extRcode ?? 0) << 4) | (m.flags & 0xf);

/** Raw header reads for the cheap paths (ID rewriting, TC check) that need no full parse. */
export const rawId = (b: Buffer) => b.readUInt16BE(0);
export const rawTruncated = (b: Buffer) => b.length >= HEADER_LEN && (b[2]! & (TC >> 8)) !== 0;

// ---- Parsing --------------------------------------------------------------------------------

function need(b: Buffer, off: number, n: number, what: string): void {
  if (off + n > b.length) throw new ParseError('E_DNS_SHORT', `the message ends inside ${what} (needs ${off + n} bytes, has ${b.length})`);
}

function labelText(b: Buffer, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const c = b[i]!;
    // '.' and '\' inside a label and non-printables are escaped as dig prints them, so that a
    // label with a dot can never be mistaken for two labels by the routing rules.
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += '\\' + String(c).padStart(3, '0');
  }
  return s;
}

/** Reads a possibly compressed name at `off`; returns it and the offset just past it in place. */
export function readName(b: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let wire = 0; // octets of the uncompressed name, length bytes and root included
  let pos = off;
  let end = -1; // set at the first pointer: the name's in-place extent stops there
  let floor = off; // a pointer must land before the start of the pointer that leads there
  for (let jumps = 0; ; ) {
    need(b, pos, 1, 'a name');
    const len = b[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      need(b, pos, 2, 'a compression pointer');
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= floor || target < HEADER_LEN) throw new ParseError('E_DNS_POINTER', `compression pointer at ${pos} to ${target} does not point backwards`);
      if (++jumps > MAX_JUMPS) throw new ParseError('E_DNS_POINTER', 'too many compression pointers in one name');
      if (end < 0) end = pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new ParseError('E_DNS_LABEL', `label type 0x${kind.toString(16)} at ${pos} is not supported`);
    need(b, pos + 1, len, 'a label');
    wire += len + 1;
    if (wire + 1 > MAX_NAME) throw new ParseError('E_DNS_NAME_TOO_LONG', 'a name is longer than 255 octets');
    labels.push(labelText(b, pos + 1, len));
    pos += len + 1;
  }
  return { name: labels.join('.'), end };
}

function readQuestion(b: Buffer, off: number): { q: Question; end: number } {
  const { name, end } = readName(b, off);
  need(b, end, 4, 'a question');
  return { q: { name, type: b.readUInt16BE(end), cls: b.readUInt16BE(end + 2) }, end: end + 4 };
}

function readRecord(b: Buffer, off: number): { rr: ResourceRecord; end: number } {
  const { name, end } = readName(b, off);
  need(b, end, 10, 'a record header');
  const rdlen = b.readUInt16BE(end + 8);
  need(b, end + 10, rdlen, 'record data');
  const rr: ResourceRecord = {
    name,
    type: b.readUInt16BE(end),
    cls: b.readUInt16BE(end + 2),
    ttl: b.readUInt32BE(end + 4),
    rdata: b.subarray(end + 10, end + 10 + rdlen),
  };
  return { rr, end: end + 10 + rdlen };
}

/** Parses a whole message. Throws only ParseError. Bytes after the last record are an error:
 * a datagram carries exactly one message. */
export function parseMessage(b: Buffer): Message {
  need(b, 0, HEADER_LEN, 'the header');
  const counts = [b.readUInt16BE(4), b.readUInt16BE(6), b.readUInt16BE(8), b.readUInt16BE(10)] as const;
  // Each question takes ≥5 bytes and each record ≥11: reject impossible counts before looping.
  if (HEADER_LEN + counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 > b.length) {
    throw new ParseError('E_DNS_SHORT', 'the section counts promise more than the message holds');
  }
  let off = HEADER_LEN;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const r = readQuestion(b, off);
    questions.push(r.q);
    off = r.end;
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const r = readRecord(b, off);
      sections[s]!.push(r.rr);
      off = r.end;
    }
  }
  if (off !== b.length) throw new ParseError('E_DNS_TRAILING', `${b.length - off} bytes follow the last record`);
  const msg: Message = { id: b.readUInt16BE(0), flags: b.readUInt16BE(2), questions, answers: sections[0]!, authorities: sections[1]!, additionals: [] };
  for (const rr of sections[2]!) {
    // RFC 6891 §6.1.1: one OPT, owner the root; a second one makes the message malformed.
    if (rr.type === TYPE.OPT) {
      if (msg.edns || rr.name !== '') throw new ParseError('E_DNS_LABEL', 'a message may carry one OPT record, owned by the root');
      msg.edns = { udpSize: rr.cls, extRcode: rr.ttl >>> 24, version: (rr.ttl >>> 16) & 0xff, dnssecOk: (rr.ttl & 0x8000) !== 0, options: rr.rdata };
    } else msg.additionals.push(rr);
  }
  return msg;
}

/** parseMessage without the throw, for callers that branch on the outcome. */
export function tryParse(b: Buffer): Message | ParseError {
  try {
    return parseMessage(b);
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw err; // a bug in this file, not bad input
  }
}

// ---- Building -------------------------------------------------------------------------------

/** Wire form of a presentation name (no escapes: the names we write come from our own code). */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const parts: Buffer[] = [];
  for (const l of labels) {
    const lb = Buffer.from(l, 'latin1');
    if (lb.length === 0 || lb.length > 63) throw new RangeError(`label "${l}" must be 1–63 octets`);
    parts.push(Buffer.from([lb.length]), lb);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > MAX_NAME) throw new RangeError(`"${name}" is longer than 255 octets`);
  return out;
}

export interface EdnsOut {
  udpSize: number;
  extRcode?: number;
  options?: Buffer;
}

function optRecord(e: EdnsOut): Buffer {
  const opts = e.options ?? Buffer.alloc(0);
  const b = Buffer.alloc(11 + opts.length);
  // owner root (b[0] = 0), TYPE OPT, CLASS = UDP size, TTL = ext-rcode | version 0 | DO 0
  b.writeUInt16BE(TYPE.OPT, 1);
  b.writeUInt16BE(e.udpSize, 3);
  b.writeUInt32BE(((e.extRcode ?? 0) & 0xff) << 24, 5);
  b.writeUInt16BE(opts.length, 9);
  opts.copy(b, 11);
  return b;
}

/** A query as a stub resolver sends it (tests and the fake upstream use it). */
export function buildQuery(id: number, name: string, type: number, opts: { rd?: boolean; edns?: EdnsOut; cls?: number } = {}): Buffer {
  const h = Buffer.alloc(HEADER_LEN);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(opts.rd === false ? 0 : RD, 2);
  h.writeUInt16BE(1, 4);
  if (opts.edns) h.writeUInt16BE(1, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(opts.cls ?? CLASS_IN, 2);
  return Buffer.concat([h, encodeName(name), q, ...(opts.edns ? [optRecord(opts.edns)] : [])]);
}

export interface AnswerRecord {
  type: number;
  ttl: number;
  rdata: Buffer;
}

export interface ReplyOptions {
  rcode: number;
  /** Owned by the question's name (a pointer to it), so the asker's 0x20 case survives. */
  answers?: AnswerRecord[];
  /** Include an OPT record (RFC 6891 §6.1.1: answer EDNS with EDNS). */
  edns?: EdnsOut;
  /** The largest message the asker can take (UDP); answers that do not fit are dropped and TC set. */
  maxSize?: number;
}

/**
 * A response to `query`, whose raw bytes are `raw`: the ID, opcode, RD and the question section are
 * copied byte for byte; QR and RA are set (we recurse, through the cluster or the upstream).
 * `questionEnd` is where the question section ends in `raw` (undefined → no question is echoed,
 * as for a FORMERR to a message whose question could not be read).
 */
export function buildReply(raw: Buffer, questionEnd: number | undefined, opts: ReplyOptions): Buffer {
  const qd = questionEnd === undefined ? 0 : raw.readUInt16BE(4);
  const question = questionEnd === undefined ? Buffer.alloc(0) : raw.subarray(HEADER_LEN, questionEnd);
  const opt = opts.edns ? optRecord({ ...opts.edns, extRcode: opts.rcode >> 4 }) : Buffer.alloc(0);
  const max = opts.maxSize ?? 0xffff;
  const records: Buffer[] = [];
  let size = HEADER_LEN + question.length + opt.length;
  let truncated = false;
  for (const a of opts.answers ?? []) {
    const rr = Buffer.alloc(12 + a.rdata.length);
    rr.writeUInt16BE(0xc000 | HEADER_LEN, 0); // the question's name starts right after the header
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(a.ttl >>> 0, 6);
    rr.writeUInt16BE(a.rdata.length, 10);
    a.rdata.copy(rr, 12);
    // RFC 2181 §9: a truncated answer sets TC; the client retries over TCP and gets all of it.
    if (size + rr.length > max) {
      truncated = true;
      break;
    }
    size += rr.length;
    records.push(rr);
  }
  const h = Buffer.alloc(HEADER_LEN);
  raw.copy(h, 0, 0, 2); // ID
  const inFlags = raw.readUInt16BE(2);
  h.writeUInt16BE(QR | (inFlags & 0x7800) /* opcode */ | (inFlags & RD) | RA | (truncated ? TC : 0) | (opts.rcode & 0xf), 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(records.length, 6);
  h.writeUInt16BE(opt.length > 0 ? 1 : 0, 10);
  return Buffer.concat([h, question, ...records, opt]);
}

/** Where the question section of a parsed message ends (for buildReply). */
export function questionSectionEnd(raw: Buffer): number {
  let off = HEADER_LEN;
  const qd = raw.readUInt16BE(4);
  for (let i = 0; i < qd; i++) off = readName(raw, off).end + 4;
  return off;
}
