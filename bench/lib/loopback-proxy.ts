// The user daemon's data path without Kubernetes, in its own process: a TunnelClient to the
// loopback manager (argv[2] = its port) and the SOCKS proxy over it. Prints the proxy's port.
import { TunnelClient } from '../../lib/proxy/tunnel/client.js';
import { ProxyServer } from '../../lib/proxy/socks/server.js';

const client = await TunnelClient.connect({ host: '127.0.0.1', port: Number(process.argv[2]), peer: 'client' });
const proxy = new ProxyServer({ dialer: client, host: '127.0.0.1', port: 0 });
const a = await proxy.start();
console.log(a.port);
