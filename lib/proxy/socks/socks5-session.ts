// One SOCKS5 connection: method negotiation, optional username/password, one request, then
// either a spliced TCP flow (CONNECT) or a UDP relay that lives as long as this connection
// (UDP ASSOCIATE). Every way out of the handshake closes the socket after the reply the RFC
// gives for it; nothing here throws to the server.

import type { Socket } from 'node:net';
import { credentialsMatch, dialFor, relay, type ProxyContext } from './context.js';
import { describeFailure, socksReplyFor } from './failure.js';
import { unmapIpv4 } from '../../common/ip.js';
import type { HandshakeReader, ReadResult } from './reader.js';
import {
  buildReply,
  chooseMethod,
  Cmd,
  Method,
  methodReply,
  parseGreeting,
  parseRequest,
  parseUserPass,
  Rep,
  userPassReply,
  type RepCode,
  type SocksRequest,
} from './socks5.js';
import { UdpRelay } from './udp-relay.js';

/** `requestRead` is called once a complete request is in: the handshake timer stops there. */
export async function handleSocks5(
  ctx: ProxyContext,
  socket: Socket,
  reader: HandshakeReader,
  id: number,
  requestRead: () => void = () => {},
): Promise<void> {
  const fields = { conn: id, proto: 'socks5' };
  const protocolError = (r: Exclude<ReadResult<unknown>, { status: 'ok' }>, reply?: Buffer) => {
    if (r.status === 'bad') {
      ctx.stats.protocolErrors++;
      ctx.log('debug', 'socks5 bad message', { ...fields, reason: r.reason });
    }
    if (reply && !socket.destroyed) socket.end(reply);
    else socket.destroy();
  };

  const greeting = await reader.read(parseGreeting);
  if (greeting.status !== 'ok') return protocolError(greeting);
  const method = chooseMethod(greeting.value.methods, ctx.credentials !== undefined);
  if (method === Method.NO_ACCEPTABLE) {
    ctx.stats.authFailures++;
    ctx.log('info', 'socks5 client offered no acceptable auth method', { ...fields, offered: greeting.value.methods });
    socket.end(methodReply(Method.NO_ACCEPTABLE));
    return;
  }
  socket.write(methodReply(method));

  if (method === Method.USER_PASS) {
    const auth = await reader.read(parseUserPass);
    if (auth.status !== 'ok') return protocolError(auth, userPassReply(false));
    if (!credentialsMatch(ctx.credentials!, auth.value)) {
      ctx.stats.authFailures++;
      ctx.log('info', 'socks5 wrong username or password', { ...fields, username: auth.value.username });
      socket.end(userPassReply(false));
      return;
    }
    socket.write(userPassReply(true));
  }

  const req = await reader.read(parseRequest);
  if (req.status !== 'ok') {
    return protocolError(req, req.status === 'bad' && req.reply !== undefined ? buildReply(req.reply as RepCode) : undefined);
  }
  requestRead();
  if (req.value.cmd === Cmd.CONNECT) await connect(ctx, socket, reader, req.value, fields);
  else await associate(ctx, socket, reader, req.value, fields);
}

async function connect(
  ctx: ProxyContext,
  socket: Socket,
  reader: HandshakeReader,
  req: SocksRequest,
  fields: Record<string, unknown>,
): Promise<void> {
  const flow = { ...fields, host: req.host, port: req.port };
  const dialed = await dialFor(ctx, socket, req.host, req.port);
  if (!dialed.ok) {
    ctx.log('info', 'socks5 dial failed', {
      ...flow,
      failure: dialed.failure,
      reason: describeFailure(dialed.failure, req.host, req.port),
    });
    if (!socket.destroyed) socket.end(buildReply(socksReplyFor(dialed.failure)));
    return;
  }
  const up = dialed.stream as Partial<Socket>;
  // RFC 1928 §6: BND is the address the server used to reach the target. A tunnel stream has
  // none of its own, so the proxy's side of this connection stands in: same family as the
  // client expects, and never a made-up routable address.
  const bound =
    typeof up.localAddress === 'string' && typeof up.localPort === 'number'
      ? { host: unmapIpv4(up.localAddress), port: up.localPort }
      : { host: unmapIpv4(socket.localAddress ?? '0.0.0.0'), port: 0 };
  socket.write(buildReply(Rep.SUCCEEDED, bound));
  reader.release();
  relay(ctx, socket, dialed.stream, flow);
}

async function associate(
  ctx: ProxyContext,
  socket: Socket,
  reader: HandshakeReader,
  req: SocksRequest,
  fields: Record<string, unknown>,
): Promise<void> {
  const local = unmapIpv4(socket.localAddress ?? '127.0.0.1');
  const peer = unmapIpv4(socket.remoteAddress ?? '');
  let udp: UdpRelay;
  try {
    // RFC 1928 §7: DST in the request is where the client will send from; 0.0.0.0 / port 0
    // mean "not known yet", so only the port is taken from it, the address is the TCP peer's.
    udp = await UdpRelay.open(ctx, { bindHost: local, clientHost: peer, clientPort: req.port, fields });
  } catch (err) {
    ctx.log('warn', 'socks5 UDP relay could not bind', { ...fields, error: (err as Error).message });
    socket.end(buildReply(Rep.GENERAL_FAILURE));
    return;
  }
  if (socket.destroyed) {
    udp.close();
    return;
  }
  socket.write(buildReply(Rep.SUCCEEDED, udp.address()));
  reader.release();
  // The association lives exactly as long as the control connection; anything the client sends
  // on it is meaningless and discarded.
  socket.on('data', () => {});
  socket.on('end', () => socket.end());
  socket.once('close', () => udp.close());
}
