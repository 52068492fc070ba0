// What TCP and UDP flows share at the edge: their endpoints and the flow events published for
// tests and `tp status` (undici-style diagnostics channels, free when nobody subscribes).

import diagnostics from 'node:diagnostics_channel';
import type { CloseReason } from './tcp/conn.js';
import { formatIp } from './wire/ip.js';

export const flowOpenChannel = diagnostics.channel('tp:flow:open');
export const flowCloseChannel = diagnostics.channel('tp:flow:close');

/** Published on tp:flow:open / tp:flow:close. */
export interface FlowEvent {
  proto: 'tcp' | 'udp';
  /** The workstation side, `ip:port` (`[ip]:port` for IPv6). */
  src: string;
  /** The cluster side the workstation addressed. */
  dst: string;
  reason?: CloseReason | 'idle' | 'closed' | 'stack-closed';
}

export interface Endpoints {
  /** The 4-tuple as a string (see NetStack's key). */
  key: string;
  /** Our side: the cluster address the workstation dialed (source of what we send). */
  local: Buffer;
  localPort: number;
  /** The workstation's address and port. */
  remote: Buffer;
  remotePort: number;
}

/** A flow's own copy of bytes it keeps for its whole life (its addresses, a datagram to quote).
 * Not Buffer.from: that slices Node's shared 8 KiB pool, and a slice kept by a long-lived flow
 * pins the whole pool chunk with every short-lived slice around it — 10,000 idle flows held
 * ~4 KiB each that way. */
export function keep(bytes: Uint8Array): Buffer {
  const b = Buffer.allocUnsafeSlow(bytes.length);
  b.set(bytes);
  return b;
}

export function flowEvent(proto: 'tcp' | 'udp', e: Endpoints, reason?: FlowEvent['reason']): FlowEvent {
  const addr = (a: Buffer, port: number) => (a.length === 4 ? `${formatIp(a)}:${port}` : `[${formatIp(a)}]:${port}`);
  const ev: FlowEvent = { proto, src: addr(e.remote, e.remotePort), dst: addr(e.local, e.localPort) };
  if (reason) ev.reason = reason;
  return ev;
}

export function publishOpen(proto: 'tcp' | 'udp', e: Endpoints): void {
  if (flowOpenChannel.hasSubscribers) flowOpenChannel.publish(flowEvent(proto, e));
}

export function publishClose(proto: 'tcp' | 'udp', e: Endpoints, reason: FlowEvent['reason']): void {
  if (flowCloseChannel.hasSubscribers) flowCloseChannel.publish(flowEvent(proto, e, reason));
}
