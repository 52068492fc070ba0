// Fixed ports of vif-servers.ts inside bench/vif's namespaces (the namespaces are the bench's own).
export const HTTP_PORT = 8080;
export const ECHO_PORT = 7003;
export const SINK_PORT = 9009;
/** dante's SOCKS5 port in the first namespace (bench/vif's peer). */
export const DANTE_PORT = 1080;
