// Counters for `tp status`: per-packet facts are counted here, never logged.

import { DROP_REASONS, type DropReason } from './wire/reasons.js';

export interface NetStackStats {
  tcpFlowsOpen: number;
  tcpFlowsTotal: number;
  udpFlowsOpen: number;
  udpFlowsTotal: number;
  /** SYNs waiting for their dial. */
  pendingDials: number;
  packetsIn: number;
  packetsOut: number;
  /** Payload bytes from the workstation towards the cluster (TCP and UDP). */
  bytesFromWorkstation: number;
  /** Payload bytes from the cluster towards the workstation (TCP and UDP). */
  bytesToWorkstation: number;
  tcpRetransmits: number;
  dialsRefused: number;
  /** Flows to a virtual (VNAT) address, dialed at the real cluster address. */
  dialsTranslated: number;
  /** Dials that failed silently (timeout, unreachable, ...): the kernel retries the SYN. */
  dialsFailed: number;
  /** SYNs dropped because too many dials were pending or too many connections open. */
  synsOverCap: number;
  rstsSent: number;
  icmpUnreachableSent: number;
  udpDatagramsDropped: number;
  icmpIgnored: number;
  /** Batches whose output callback threw (dropped). */
  outputErrors: number;
  drops: Record<DropReason, number>;
}

export function newStats(): NetStackStats {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return {
    tcpFlowsOpen: 0,
    tcpFlowsTotal: 0,
    udpFlowsOpen: 0,
    udpFlowsTotal: 0,
    pendingDials: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesFromWorkstation: 0,
    bytesToWorkstation: 0,
    tcpRetransmits: 0,
    dialsRefused: 0,
    dialsTranslated: 0,
    dialsFailed: 0,
    synsOverCap: 0,
    rstsSent: 0,
    icmpUnreachableSent: 0,
    udpDatagramsDropped: 0,
    icmpIgnored: 0,
    outputErrors: 0,
    drops,
  };
}
