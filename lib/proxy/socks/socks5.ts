// SOCKS5 wire format (RFC 1928) and username/password sub-negotiation (RFC 1929): pure parsers
// over untrusted bytes and builders of the server's replies. No sockets here.
//
// Every parser looks at a buffer that may hold a partial message and answers one of:
//   more — not enough bytes yet; call again with more
//   ok   — the message, and how many bytes it used (the rest belongs to the next stage)
//   bad  — malformed; `reply` is the code to answer with where the protocol has one
// Parsers never throw on any input (test/unit/proxy/socks/socks5.test.ts feeds them garbage).

import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../common/ip.js';

export const SOCKS5 = 0x05;
export const SOCKS4 = 0x04;
/** RFC 1929 §2: the sub-negotiation has its own version number. */
export const USERPASS_VERSION = 0x01;

export const Method = { NO_AUTH: 0x00, USER_PASS: 0x02, NO_ACCEPTABLE: 0xff } as const;
export const Cmd = { CONNECT: 0x01, BIND: 0x02, UDP_ASSOCIATE: 0x03 } as const;
export const Atyp = { IPV4: 0x01, DOMAIN: 0x03, IPV6: 0x04 } as const;

/** RFC 1928 §6 reply field. */
export const Rep = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type RepCode = (typeof Rep)[keyof typeof Rep];

export type Parsed<T> =
  { status: 'more' } | { status: 'ok'; value: T; length: number } | { status: 'bad'; reason: string; reply?: RepCode };

const MORE = { status: 'more' } as const;
const bad = (reason: string, reply?: RepCode) => ({ status: 'bad', reason, reply }) as const;

// --- method negotiation (RFC 1928 §3) -------------------------------------------------------

/** VER NMETHODS METHODS… */
export function parseGreeting(b: Uint8Array): Parsed<{ methods: number[] }> {
  if (b.length < 1) return MORE;
  if (b[0] !== SOCKS5) return bad(`version ${b[0]} is not SOCKS5`);
  if (b.length < 2) return MORE;
  const n = b[1]!;
  if (b.length < 2 + n) return MORE;
  return { status: 'ok', value: { methods: Array.from(b.subarray(2, 2 + n)) }, length: 2 + n };
}

/** With credentials configured only username/password will do: offering no-auth must not
 * bypass them. */
export function chooseMethod(offered: readonly number[], authRequired: boolean): number {
  const want = authRequired ? Method.USER_PASS : Method.NO_AUTH;
  return offered.includes(want) ? want : Method.NO_ACCEPTABLE;
}

export const methodReply = (method: number) => Buffer.from([SOCKS5, method]);

// --- username/password (RFC 1929) ----------------------------------------------------------

/** VER ULEN UNAME PLEN PASSWD. RFC 1929 asks for lengths ≥ 1, but curl sends PLEN 0 for an
 * empty password; zero lengths are accepted and simply fail the comparison if wrong. */
export function parseUserPass(b: Uint8Array): Parsed<{ username: string; password: string }> {
  if (b.length < 1) return MORE;
  if (b[0] !== USERPASS_VERSION) return bad(`username/password version ${b[0]} is not 1`);
  if (b.length < 2) return MORE;
  const ulen = b[1]!;
  if (b.length < 3 + ulen) return MORE;
  const plen = b[2 + ulen]!;
  const length = 3 + ulen + plen;
  if (b.length < length) return MORE;
  const text = (from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('utf8');
  return {
    status: 'ok',
    value: { username: text(2, 2 + ulen), password: text(3 + ulen, length) },
    length,
  };
}

/** RFC 1929 §2: STATUS 0x00 is success, anything else is failure and the server closes. */
export const userPassReply = (ok: boolean) => Buffer.from([USERPASS_VERSION, ok ? 0x00 : 0x01]);

// --- addresses (RFC 1928 §5) ---------------------------------------------------------------

export interface SocksAddr {
  /** How the client named the destination; a DOMAIN stays a name (socks5h semantics). */
  atyp: number;
  host: string;
  port: number;
}

/** ATYP ADDR PORT at `off`. Shared by requests (§4) and UDP headers (§7). */
export function parseAddr(b: Uint8Array, off: number): Parsed<SocksAddr> {
  if (b.length < off + 1) return MORE;
  const atyp = b[off]!;
  let addrLen: number;
  let addrOff = off + 1;
  switch (atyp) {
    case Atyp.IPV4:
      addrLen = 4;
      break;
    case Atyp.IPV6:
      addrLen = 16;
      break;
    case Atyp.DOMAIN:
      if (b.length < off + 2) return MORE;
      addrLen = b[off + 1]!;
      addrOff = off + 2;
      if (addrLen === 0) return bad('empty domain name', Rep.GENERAL_FAILURE);
      break;
    default:
      return bad(`address type ${atyp} is not supported`, Rep.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const end = addrOff + addrLen + 2;
  if (b.length < end) return MORE;
  let host: string;
  if (atyp === Atyp.IPV4) host = formatIpv4(b, addrOff);
  else if (atyp === Atyp.IPV6) host = formatIpv6(b, addrOff);
  else {
    host = Buffer.from(b.subarray(addrOff, addrOff + addrLen)).toString('latin1');
    // Only printable ASCII: a name with spaces, controls or bytes ≥ 0x80 cannot be a DNS name
    // and would smuggle garbage into the tunnel's :authority.
    if (!/^[\x21-\x7e]+$/.test(host)) return bad('domain name has invalid characters', Rep.GENERAL_FAILURE);
  }
  const port = (b[end - 2]! << 8) | b[end - 1]!;
  return { status: 'ok', value: { atyp, host, port }, length: end - off };
}

/** ATYP ADDR PORT for an IP literal or a name. */
export function encodeAddr(host: string, port: number): Buffer {
  const v4 = parseIpv4(host);
  const v6 = v4 ? undefined : parseIpv6(host);
  let head: Buffer;
  if (v4) head = Buffer.concat([Buffer.from([Atyp.IPV4]), v4]);
  else if (v6) head = Buffer.concat([Buffer.from([Atyp.IPV6]), v6]);
  else {
    const name = Buffer.from(host, 'latin1');
    if (name.length === 0 || name.length > 255) throw new RangeError(`cannot encode name of ${name.length} bytes`);
    head = Buffer.concat([Buffer.from([Atyp.DOMAIN, name.length]), name]);
  }
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port & 0xffff);
  return Buffer.concat([head, p]);
}

// --- requests (RFC 1928 §4) ----------------------------------------------------------------

export interface SocksRequest extends SocksAddr {
  cmd: number;
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. Commands other than CONNECT and UDP ASSOCIATE (BIND,
 * unknown) are answered 0x07 as soon as the header shows them. RSV is not checked: clients in
 * the wild are not all careful with it and it carries nothing. */
export function parseRequest(b: Uint8Array): Parsed<SocksRequest> {
  if (b.length < 1) return MORE;
  if (b[0] !== SOCKS5) return bad(`request version ${b[0]} is not SOCKS5`, Rep.GENERAL_FAILURE);
  if (b.length < 2) return MORE;
  const cmd = b[1]!;
  if (cmd !== Cmd.CONNECT && cmd !== Cmd.UDP_ASSOCIATE) {
    return bad(cmd === Cmd.BIND ? 'BIND is not supported' : `command ${cmd} is unknown`, Rep.COMMAND_NOT_SUPPORTED);
  }
  if (b.length < 3) return MORE;
  const addr = parseAddr(b, 3);
  if (addr.status !== 'ok') return addr;
  return { status: 'ok', value: { cmd, ...addr.value }, length: 3 + addr.length };
}

/** VER REP RSV BND.ADDR BND.PORT. Failures carry 0.0.0.0:0 unless told otherwise. */
export function buildReply(rep: RepCode, bound: { host: string; port: number } = { host: '0.0.0.0', port: 0 }): Buffer {
  return Buffer.concat([Buffer.from([SOCKS5, rep, 0x00]), encodeAddr(bound.host, bound.port)]);
}

// --- UDP request header (RFC 1928 §7) ------------------------------------------------------

export interface UdpHeader extends SocksAddr {
  frag: number;
  /** Offset of DATA in the datagram. */
  dataOffset: number;
}

/** RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA. A datagram is complete or it is garbage: "more"
 * never happens here, a short datagram is "bad". */
export function parseUdpHeader(b: Uint8Array): Parsed<UdpHeader> {
  if (b.length < 4) return bad('datagram shorter than a UDP request header');
  const addr = parseAddr(b, 3);
  if (addr.status === 'more') return bad('datagram truncated inside the address');
  if (addr.status === 'bad') return addr;
  const dataOffset = 3 + addr.length;
  return { status: 'ok', value: { frag: b[2]!, ...addr.value, dataOffset }, length: dataOffset };
}

/** The header a reply datagram carries: the source named the way the client named it, so the
 * client can match replies to its requests even when it asked by name. */
export function buildUdpHeader(host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x00, 0x00]), encodeAddr(host, port)]);
}

// --- SOCKS4 ------------------------------------------------------------------------------

/** SOCKS4 "request rejected or failed" (VN=0, CD=0x5B): the one thing we say to a SOCKS4 client. */
export const SOCKS4_REJECT = Buffer.from([0x00, 0x5b, 0, 0, 0, 0, 0, 0]);
