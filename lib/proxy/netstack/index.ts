// The userspace TCP/IP stack: what the root daemon needs to put it on a TUN device.
//
//   const stack = new NetStack({ dialer, mtu: 65535, output: (packets) => tun.writeBatch(packets) });
//   tun.onRead((packets) => stack.inputBatch(packets));   // or stack.input(p) per packet
//   stack.stats();  // for `tp status`
//   stack.close();  // on disconnect: RST to every flow, streams destroyed
//
// `output` gets pooled buffers, and views of send buffers, that are reused after it returns: write
// them synchronously (or copyPacket). A packet may come in pieces (headers, payload): one writev. Packets passed to input() may be reused by the caller as soon as it returns.
export { NetStack, copyPacket, systemClock } from './stack.js';
export type { Clock, Lend, NetStackOptions, OutPacket } from './stack.js';
export { flowOpenChannel, flowCloseChannel } from './flows.js';
export type { FlowEvent } from './flows.js';
export type { NetStackStats } from './stats.js';
export { SubnetMap, inPrefix, rebase } from './nat.js';
export type { DestinationMap, Prefix, SubnetMapping } from './nat.js';
export { DEFAULT_TUNING } from './tcp/conn.js';
export type { TcpTuning, CloseReason, State } from './tcp/conn.js';
export type { DropReason } from './wire/reasons.js';
