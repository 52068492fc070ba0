// The userspace TCP/IP stack: what the root daemon needs to put it on a TUN device.
export { NetStack, systemClock, flowOpenChannel, flowCloseChannel } from './stack.js';
export type { Clock, NetStackOptions, FlowEvent } from './stack.js';
export type { NetStackStats } from './stats.js';
export { DEFAULT_TUNING } from './tcp/conn.js';
export type { TcpTuning, CloseReason, State } from './tcp/conn.js';
export type { DropReason } from './wire/reasons.js';
