// Why an inbound packet was dropped. Drops are counted per reason (stats), never thrown or
// logged per packet: a hostile or buggy sender must not be able to fill a log or crash the stack.
export type DropReason =
  | 'truncated' // shorter than its fixed header
  | 'bad-version'
  | 'bad-length' // a length field disagrees with the bytes we got
  | 'bad-checksum'
  | 'ip-options'
  | 'fragment'
  | 'ipv6-extension-header'
  | 'unsupported-protocol'
  | 'bad-tcp-option'
  | 'bad-port' // port 0 as source or destination
  | 'martian-address' // broadcast/multicast source or destination
  | 'bad-offload'; // a virtio_net_hdr asking for an offload tp never enabled (wire/vnet.ts)

export const DROP_REASONS: readonly DropReason[] = [
  'truncated',
  'bad-version',
  'bad-length',
  'bad-checksum',
  'ip-options',
  'fragment',
  'ipv6-extension-header',
  'unsupported-protocol',
  'bad-tcp-option',
  'bad-port',
  'martian-address',
  'bad-offload',
];
