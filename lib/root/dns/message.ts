// The DNS codec lives in lib/common/dns/message.ts: the traffic manager asks the cluster's DNS
// with it too (issue #16). Re-exported here for the root daemon's server and its tests.
export * from '../../common/dns/message.js';
