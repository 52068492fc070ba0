// DNS messages (RFC 1035 §4, EDNS0 from RFC 6891): parse what arrives, build the answers the root
// daemon gives itself. Forwarded traffic is never re-encoded (the server relays the bytes). Cluster
// answers travel from the traffic manager as decoded records (lib/common/rpc/manager.ts DnsRecord):
// the manager decodes the cluster DNS's rdata with decodeRdata, the root daemon writes it back with
// encodeRdata (A, AAAA, CNAME, NS, PTR, MX, TXT, SOA, SRV; other types as opaque bytes).
//
// Untrusted input: every read is bounds-checked and any defect becomes a ParseError — the only
// exception parseMessage throws. Compression pointers must point strictly backwards (RFC 1035
// §4.1.4 says "prior occurrence"), which alone rules out loops; the 255-octet name limit and a jump
// cap bound the work per name.

import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../ip.js';

/**
 * One record of the cluster's answer, decoded (issue #16). Typed rather than wire bytes because
 * each side must look inside: the manager drops records that name namespaces the session may not
 * see (a PTR's or CNAME's target), the root daemon re-owns records to the name that was asked (the
 * search list turned `echo.a` into `echo.a.svc.cluster.local`) and rewrites addresses for VNAT; and
 * names inside wire rdata may be compressed against a message the client never sees (RFC 1035
 * §4.1.4), so bytes could not be copied anyway. Names are absolute, in presentation form without
 * the trailing dot (RFC 1035 §5.1 escapes for bytes outside letters, digits, `-` and `_`).
 */
export type DnsRecordData =
  /** A (RFC 1035 §3.4.1), AAAA (RFC 3596 §2.2). */
  | { address: string }
  /** CNAME (§3.3.1), NS (§3.3.11), PTR (§3.3.12). */
  | { target: string }
  /** MX (§3.3.9). */
  | { preference: number; exchange: string }
  /** TXT (§3.3.14): each <character-string> as latin1 text (one char per octet, ≤ 255 octets). */
  | { strings: string[] }
  /** SOA (§3.3.13). */
  | { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  /** SRV (RFC 2782). */
  | { priority: number; weight: number; port: number; target: string }
  /** Any other type: the rdata, base64. RFC 3597 §4 forbids compressed names in types defined
   * after RFC 1035, so their bytes mean the same in any message. */
  | { rdata: string };

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  SVCB: 64,
  HTTPS: 65,
  ANY: 255,
  CAA: 257,
} as const;
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

/** Bytes from outside that are no DNS message (not a TpError): handled per packet by its caller, never shown to a user. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
  constructor(
    readonly code: 'E_DNS_SHORT' | 'E_DNS_LABEL' | 'E_DNS_POINTER' | 'E_DNS_NAME_TOO_LONG' | 'E_DNS_TRAILING' | 'E_DNS_RDATA',
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
  /** Where rdata starts in the message: names inside it may point back into the message. */
  rdataOffset: number;
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
  for (let jumps = 0; ;) {
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
      if (target >= floor || target < HEADER_LEN)
        throw new ParseError('E_DNS_POINTER', `compression pointer at ${pos} to ${target} does not point backwards`);
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
    rdataOffset: end + 10,
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
  const msg: Message = {
    id: b.readUInt16BE(0),
    flags: b.readUInt16BE(2),
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: [],
  };
  for (const rr of sections[2]!) {
    // RFC 6891 §6.1.1: one OPT, owner the root; a second one makes the message malformed.
    if (rr.type === TYPE.OPT) {
      if (msg.edns || rr.name !== '') throw new ParseError('E_DNS_LABEL', 'a message may carry one OPT record, owned by the root');
      msg.edns = {
        udpSize: rr.cls,
        extRcode: rr.ttl >>> 24,
        version: (rr.ttl >>> 16) & 0xff,
        dnssecOk: (rr.ttl & 0x8000) !== 0,
        options: rr.rdata,
      };
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

/**
 * Wire form of a presentation name (RFC 1035 §5.1): labels split at unescaped dots; `\X` is the
 * character X and `\DDD` the octet DDD, as readName writes them, so every name readName returns
 * encodes to the same bytes. Throws RangeError for an empty or overlong label or name.
 */
export function encodeName(name: string): Buffer {
  const labels: number[][] = [];
  let cur: number[] = [];
  const end = name.length - (name.endsWith('.') && !name.endsWith('\\.') ? 1 : 0);
  for (let i = 0; i < end; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      labels.push(cur);
      cur = [];
    } else if (c === 0x5c) {
      const ddd = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (ddd) {
        const v = Number(ddd[0]);
        if (v > 255) throw new RangeError(`"${name}" has an escape \\${ddd[0]} beyond 255`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(++i));
      } else {
        throw new RangeError(`"${name}" ends inside an escape`);
      }
    } else {
      if (c > 0xff) throw new RangeError(`"${name}" has a character that is not one octet`);
      cur.push(c);
    }
  }
  if (end > 0) labels.push(cur);
  const out = Buffer.alloc(labels.reduce((n, l) => n + l.length + 1, 1));
  let off = 0;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) throw new RangeError(`a label of "${name}" must be 1–63 octets`);
    out[off++] = l.length;
    for (const c of l) out[off++] = c;
  }
  out[off] = 0;
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
  /** The owner name; absent: the question's name (a pointer to it, so the asker's 0x20 case
   * survives). */
  owner?: string;
}

export interface ReplyOptions {
  rcode: number;
  answers?: AnswerRecord[];
  /** The authority section: the zone's SOA of a negative answer (RFC 2308 §3). */
  authorities?: AnswerRecord[];
  /** Include an OPT record (RFC 6891 §6.1.1: answer EDNS with EDNS). */
  edns?: EdnsOut;
  /** The largest message the asker can take (UDP); records that do not fit are dropped and TC set. */
  maxSize?: number;
}

function recordBytes(a: AnswerRecord): Buffer {
  const owner = a.owner === undefined ? undefined : encodeName(a.owner);
  const ownerLen = owner ? owner.length : 2;
  const rr = Buffer.alloc(ownerLen + 10 + a.rdata.length);
  if (owner) owner.copy(rr, 0);
  else rr.writeUInt16BE(0xc000 | HEADER_LEN, 0); // the question's name starts right after the header
  rr.writeUInt16BE(a.type, ownerLen);
  rr.writeUInt16BE(CLASS_IN, ownerLen + 2);
  rr.writeUInt32BE(a.ttl >>> 0, ownerLen + 4);
  rr.writeUInt16BE(a.rdata.length, ownerLen + 8);
  a.rdata.copy(rr, ownerLen + 10);
  return rr;
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
  const counts = [0, 0];
  let size = HEADER_LEN + question.length + opt.length;
  let truncated = false;
  sections: for (const [i, section] of [opts.answers ?? [], opts.authorities ?? []].entries()) {
    for (const a of section) {
      const rr = recordBytes(a);
      // RFC 2181 §9: a truncated answer sets TC; the client retries over TCP and gets all of it.
      if (size + rr.length > max) {
        truncated = true;
        break sections;
      }
      size += rr.length;
      records.push(rr);
      counts[i]!++;
    }
  }
  const h = Buffer.alloc(HEADER_LEN);
  raw.copy(h, 0, 0, 2); // ID
  const inFlags = raw.readUInt16BE(2);
  h.writeUInt16BE(QR | (inFlags & 0x7800) /* opcode */ | (inFlags & RD) | RA | (truncated ? TC : 0) | (opts.rcode & 0xf), 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(counts[0]!, 6);
  h.writeUInt16BE(counts[1]!, 8);
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

// ---- Types and record data ------------------------------------------------------------------

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** A type's mnemonic, or `TYPEnnn` for one without (RFC 3597 §5). */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** The number of a mnemonic (any case) or of `TYPEnnn`; undefined for anything else. */
export function typeNumber(name: string): number | undefined {
  const up = name.toUpperCase();
  if (Object.hasOwn(TYPE, up)) return TYPE[up as keyof typeof TYPE];
  const m = /^TYPE(\d{1,5})$/.exec(up);
  const n = m ? Number(m[1]) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 0xffff ? n : undefined;
}

/** Types whose rdata may hold compressed names (RFC 3597 §4: those of RFC 1035, and RP, AFSDB, RT,
 * SIG, PX, NXT, NAPTR, SRV, which receivers must decompress) and that decodeRdata does not decode:
 * their bytes would point into a message the asker never sees, so they are not passed on. */
const COMPRESSIBLE_UNDECODED = new Set([3, 4, 7, 8, 9, 14, 17, 18, 21, 24, 26, 30, 35]);

function rdataError(rr: ResourceRecord, why: string): ParseError {
  return new ParseError('E_DNS_RDATA', `the ${typeName(rr.type)} record of ${rr.name || '.'} is malformed: ${why}`);
}

/** A name inside rdata, which may point back into the message (RFC 1035 §4.1.4); it must end
 * within the rdata. */
function rdataName(msg: Buffer, rr: ResourceRecord, off: number): { name: string; end: number } {
  const limit = rr.rdataOffset + rr.rdata.length;
  if (off >= limit) throw rdataError(rr, 'a name is missing');
  const r = readName(msg.subarray(0, limit), off);
  return r;
}

/**
 * The data of a record of `msg` (parsed with parseMessage), decoded for the types whose data
 * carries names or addresses, opaque bytes for the rest. undefined for the obsolete types whose
 * compressed names it cannot re-encode. Throws ParseError when the data does not fit its type.
 */
export function decodeRdata(msg: Buffer, rr: ResourceRecord): DnsRecordData | undefined {
  const d = rr.rdata;
  const start = rr.rdataOffset;
  const end = start + d.length;
  const exactName = (off: number): { name: string; end: number } => rdataName(msg, rr, off);
  const only = (r: { name: string; end: number }) => {
    if (r.end !== end) throw rdataError(rr, `${end - r.end} byte${end - r.end === 1 ? '' : 's'} after the name`);
    return r.name;
  };
  switch (rr.type) {
    case TYPE.A: // RFC 1035 §3.4.1: a 32-bit address
      if (d.length !== 4) throw rdataError(rr, `${d.length} bytes, not 4`);
      return { address: formatIpv4(d) };
    case TYPE.AAAA: // RFC 3596 §2.2: a 128-bit address
      if (d.length !== 16) throw rdataError(rr, `${d.length} bytes, not 16`);
      return { address: formatIpv6(d) };
    case TYPE.CNAME: // RFC 1035 §3.3.1
    case TYPE.NS: // §3.3.11
    case TYPE.PTR: // §3.3.12
      return { target: only(exactName(start)) };
    case TYPE.MX: {
      // §3.3.9: PREFERENCE, EXCHANGE
      if (d.length < 3) throw rdataError(rr, 'shorter than a preference and a name');
      return { preference: d.readUInt16BE(0), exchange: only(exactName(start + 2)) };
    }
    case TYPE.SRV: {
      // RFC 2782: Priority, Weight, Port, Target (decompressed anyway, RFC 3597 §4)
      if (d.length < 7) throw rdataError(rr, 'shorter than priority, weight, port and a name');
      return { priority: d.readUInt16BE(0), weight: d.readUInt16BE(2), port: d.readUInt16BE(4), target: only(exactName(start + 6)) };
    }
    case TYPE.SOA: {
      // §3.3.13: MNAME, RNAME, then five 32-bit fields
      const m = exactName(start);
      const r = exactName(m.end);
      if (end - r.end !== 20) throw rdataError(rr, `${end - r.end} bytes follow RNAME, not 20`);
      const at = r.end - start;
      return {
        mname: m.name,
        rname: r.name,
        serial: d.readUInt32BE(at),
        refresh: d.readUInt32BE(at + 4),
        retry: d.readUInt32BE(at + 8),
        expire: d.readUInt32BE(at + 12),
        minimum: d.readUInt32BE(at + 16),
      };
    }
    case TYPE.TXT: {
      // §3.3.14: one or more <character-string>s (§3.3: a length octet, then that many)
      const strings: string[] = [];
      for (let off = 0; off < d.length;) {
        const len = d[off]!;
        if (off + 1 + len > d.length) throw rdataError(rr, 'a character-string runs past the data');
        strings.push(d.toString('latin1', off + 1, off + 1 + len));
        off += 1 + len;
      }
      if (strings.length === 0) throw rdataError(rr, 'no character-string');
      return { strings };
    }
    default:
      if (COMPRESSIBLE_UNDECODED.has(rr.type)) return undefined;
      return { rdata: d.toString('base64') };
  }
}

/** Wire rdata for `data` of `type`, names uncompressed (always allowed, RFC 1035 §4.1.4). Throws
 * RangeError when the data does not fit the type (it crossed a process boundary as JSON). */
export function encodeRdata(type: number, data: DnsRecordData): Buffer {
  // JSON from another process: every field is checked here, whatever the type says.
  const o = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const u16 = (v: unknown, what: string) => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff) throw new RangeError(`${what} must be 0–65535`);
    return v as number;
  };
  const u32 = (v: unknown, what: string) => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) throw new RangeError(`${what} must be 0–4294967295`);
    return v as number;
  };
  const name = (v: unknown, what: string) => {
    if (typeof v !== 'string') throw new RangeError(`${what} must be a name`);
    return encodeName(v);
  };
  switch (type) {
    case TYPE.A:
    case TYPE.AAAA: {
      const b = typeof o.address === 'string' ? (type === TYPE.A ? parseIpv4(o.address) : parseIpv6(o.address)) : undefined;
      if (!b) throw new RangeError(`an ${typeName(type)} record needs an IPv${type === TYPE.A ? 4 : 6} address`);
      return b;
    }
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      return name(o.target, 'target');
    case TYPE.MX: {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(u16(o.preference, 'preference'));
      return Buffer.concat([p, name(o.exchange, 'exchange')]);
    }
    case TYPE.SRV: {
      const h = Buffer.alloc(6);
      h.writeUInt16BE(u16(o.priority, 'priority'), 0);
      h.writeUInt16BE(u16(o.weight, 'weight'), 2);
      h.writeUInt16BE(u16(o.port, 'port'), 4);
      return Buffer.concat([h, name(o.target, 'target')]);
    }
    case TYPE.SOA: {
      const f = Buffer.alloc(20);
      (['serial', 'refresh', 'retry', 'expire', 'minimum'] as const).forEach((k, i) => f.writeUInt32BE(u32(o[k], k), i * 4));
      return Buffer.concat([name(o.mname, 'mname'), name(o.rname, 'rname'), f]);
    }
    case TYPE.TXT: {
      const strings = o.strings;
      if (!Array.isArray(strings) || strings.length === 0) throw new RangeError('a TXT record needs at least one string');
      return Buffer.concat(
        strings.map((s: unknown) => {
          if (typeof s !== 'string' || s.length > 255 || /[^\x00-\xff]/.test(s))
            throw new RangeError('a TXT string must be at most 255 octets');
          return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
        }),
      );
    }
    default: {
      if (COMPRESSIBLE_UNDECODED.has(type)) throw new RangeError(`${typeName(type)} records are not passed on`);
      if (typeof o.rdata !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.rdata))
        throw new RangeError(`a ${typeName(type)} record needs base64 rdata`);
      const b = Buffer.from(o.rdata, 'base64');
      if (b.length > 0xffff) throw new RangeError('rdata is longer than 65535 octets');
      return b;
    }
  }
}
