// HTTP/1.1 `Upgrade: h2c` (RFC 7540 §3.2; RFC 9113 §3.1 deprecates it, clients still send it).
//
// node:http2 has no server side for the upgrade, so the agent performs it around a normal server
// session: it answers 101, reads the client's connection preface (the magic and its first
// SETTINGS frame), and hands the session these bytes instead:
//
//   magic · SETTINGS(HTTP2-Settings payload ++ the client's SETTINGS payload) · HEADERS(stream 1)
//   · whatever the client sent after its SETTINGS
//
// RFC 7540 §3.2.1: the HTTP2-Settings values apply as if received in a SETTINGS frame, then the
// preface's SETTINGS follows; one frame with both lists in that order means the same (§6.5.3:
// values are processed in order, the last one wins) and is acknowledged once, as the client
// expects — a second ACK would be a protocol error to it. The upgraded request becomes stream 1,
// half-closed (remote) (§3.2), which is what a HEADERS frame with END_STREAM opens; the client's
// own streams then start at 3. The server session's answer on stream 1 is the response.
//
// Only requests without a body are upgraded: a body would have to be held until the client's
// preface arrives. Others are served as HTTP/1.1 with their upgrade fields removed (a server may
// ignore Upgrade, RFC 9110 §7.8), so no destination can switch the connection behind the filters.
// Pure functions over Buffers.
import { tokens, type RequestHead } from './parse.js';

export const H2_MAGIC = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_ACK = 0x1;

export const SWITCHING_TO_H2C = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');

/** A request that asks for h2c, whether or not it can be upgraded. */
export const asksH2c = (h: RequestHead) => h.versionMinor >= 1 && tokens(h, 'upgrade').includes('h2c');

/** Fields that belong to the HTTP/1.1 connection, not to the request (RFC 9113 §8.2.2), and the
 * upgrade's own. */
const CONNECTION_FIELDS = new Set([
  'connection',
  'upgrade',
  'http2-settings',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'host',
]);

/** Why `h` cannot be upgraded, or its HTTP2-Settings payload. */
export function h2cUpgradable(h: RequestHead, hasBody: boolean): { settings: Buffer } | { refuse: string } {
  if (hasBody) return { refuse: 'the request has a body' };
  const conn = tokens(h, 'connection');
  if (!conn.includes('upgrade') || !conn.includes('http2-settings'))
    return { refuse: 'Connection does not list Upgrade and HTTP2-Settings' };
  // §3.2.1: exactly one HTTP2-Settings field, token68 of base64url.
  const vals = h.byName.get('http2-settings');
  if (vals?.length !== 1) return { refuse: 'not exactly one HTTP2-Settings field' };
  const v = vals[0]!;
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(v)) return { refuse: 'HTTP2-Settings is not base64url' };
  const settings = Buffer.from(v, 'base64url');
  if (settings.length % 6 !== 0) return { refuse: 'HTTP2-Settings is not a list of settings' };
  return { settings };
}

/** The request's HTTP/2 header list: pseudo-headers first (RFC 9113 §8.3), names lower-case. */
export function h2RequestFields(h: RequestHead): Array<[string, string]> {
  let authority = h.byName.get('host')?.[0] ?? '';
  let path = h.target;
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(h.target);
  if (abs) {
    authority = abs[1]!;
    path = abs[2] || '/';
  }
  const out: Array<[string, string]> = [
    [':method', h.method],
    [':scheme', 'http'],
    [':authority', authority],
    [':path', path],
  ];
  for (const [name, value] of h.fields) {
    const k = name.toLowerCase();
    if (CONNECTION_FIELDS.has(k)) continue;
    // §8.2.2: TE may only carry "trailers" in HTTP/2.
    if (k === 'te' && value.toLowerCase() !== 'trailers') continue;
    out.push([k, value]);
  }
  return out;
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(n: number, prefixBits: number, first: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (n < max) {
    out.push(first | n);
    return;
  }
  out.push(first | max);
  n -= max;
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/**
 * A header block of literal fields without indexing and without Huffman coding (RFC 7541 §6.2.2):
 * it leaves the decoder's dynamic table as it was, so the client's later blocks decode the same.
 */
export function hpackLiterals(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const pre: number[] = [0x00];
    hpackInt(n.length, 7, 0x00, pre);
    parts.push(Buffer.from(pre), n);
    const vl: number[] = [];
    hpackInt(v.length, 7, 0x00, vl);
    parts.push(Buffer.from(vl), v);
  }
  return Buffer.concat(parts);
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** The upgraded request as stream 1: HEADERS with END_STREAM (no body) and END_HEADERS. */
export function stream1Headers(h: RequestHead, maxBlock: number): Buffer | undefined {
  const block = hpackLiterals(h2RequestFields(h));
  if (block.length > maxBlock) return undefined;
  return frame(TYPE_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, block);
}

/**
 * After the 101: given what the client sent so far, the bytes to hand the server session, or
 * 'more' until the magic and the first frame are in, or an error when the client's preface is not
 * the magic followed by a SETTINGS frame (RFC 9113 §3.4).
 */
export function spliceUpgradePreface(got: Buffer, upgradeSettings: Buffer, headers1: Buffer): Buffer | 'more' | Error {
  const need = H2_MAGIC.length + FRAME_HEADER;
  const have = Math.min(got.length, H2_MAGIC.length);
  if (!got.subarray(0, have).equals(H2_MAGIC.subarray(0, have)))
    return new Error('the client did not send the HTTP/2 connection preface after 101');
  if (got.length < need) return 'more';
  const f = got.subarray(H2_MAGIC.length);
  const len = f.readUIntBE(0, 3);
  if (f[3] !== TYPE_SETTINGS || (f[4]! & FLAG_ACK) !== 0 || (f.readUInt32BE(5) & 0x7fffffff) !== 0 || len % 6 !== 0) {
    return new Error('the client preface does not start with a SETTINGS frame');
  }
  if (f.length < FRAME_HEADER + len) return 'more';
  const settings = frame(TYPE_SETTINGS, 0, 0, Buffer.concat([upgradeSettings, f.subarray(FRAME_HEADER, FRAME_HEADER + len)]));
  return Buffer.concat([H2_MAGIC, settings, headers1, f.subarray(FRAME_HEADER + len)]);
}

/**
 * The request head without its upgrade fields (Upgrade, HTTP2-Settings), for a request served as
 * HTTP/1.1: the destination then cannot answer 101. Connection may still name them: an option
 * naming an absent field means nothing (RFC 9110 §7.6.1).
 */
export function withoutUpgrade(raw: Buffer): Buffer {
  const lines = raw.toString('latin1').split('\r\n');
  const kept = lines.filter((l, i) => i === 0 || !/^(upgrade|http2-settings)[ \t]*:/i.test(l));
  return Buffer.from(kept.join('\r\n'), 'latin1');
}
