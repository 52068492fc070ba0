// Fixed ports of vif-servers.ts inside bench/vif's namespaces (the namespaces are the bench's own).
export const HTTP_PORT = 8080;
export const ECHO_PORT = 7003;
