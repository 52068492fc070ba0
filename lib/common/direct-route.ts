// The direct route to the traffic manager (DESIGN.md §3 "Routes to the manager", issue #14): for
// clusters where the workstation can reach the manager without the API server (a NodePort, a
// LoadBalancer, a VPN into the cluster network), the manager serves its client API over TLS on a
// port of its own, and the client connects there instead of through a kube port-forward. The
// client pins the certificate authority it reads through the API server (this ConfigMap, which
// RBAC's tp-client role may read), not a public CA and not the address it dialled: whoever the
// cluster says signs the manager's certificate is the only one accepted. The session's secret then
// authenticates the client exactly as over a port-forward.
export const MANAGER_CA_CONFIGMAP = 'tp-manager-ca';
export const MANAGER_CA_KEY = 'ca.crt';
/** The manager's TLS port for the direct route, inside its pod (chart value directRoute.port). */
export const DEFAULT_DIRECT_PORT = 8083;
/** ALPN for the direct route: HTTP/2 over TLS. */
export const DIRECT_ALPN = 'h2';
