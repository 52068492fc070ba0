// A traffic manager's tunnel on loopback, in its own process: TunnelServer + DirectDialer, the
// manager's data path without Kubernetes. Prints its port on stdout.
import { TunnelServer } from '../../lib/proxy/tunnel/server.js';
import { DirectDialer } from '../../lib/proxy/direct-dialer.js';

const server = new TunnelServer({ dialer: new DirectDialer() });
const addr = await server.listen(0, '127.0.0.1');
console.log(addr.port);
