// Forwarding lives in lib/common/dns/upstream.ts: the traffic manager's queries to the cluster's
// DNS use the same UDP-then-TCP exchange (issue #16). Re-exported for the root daemon.
export * from '../../common/dns/upstream.js';
