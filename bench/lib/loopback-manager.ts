// A traffic manager's tunnel on loopback, in its own process: TunnelServer + DirectDialer, the
// manager's data path without Kubernetes. Prints its port on stdout.
import { TunnelServer } from '../../lib/proxy/tunnel/server.js';
import { DirectDialer } from '../../lib/proxy/direct-dialer.js';

// TP_MAX_STREAMS as for the real manager (lib/manager/main.ts): bench/vif holds 10,000 idle flows
// on one tunnel connection, above the default budget of a connection's streams (settings.ts).
const maxStreams = Number(process.env.TP_MAX_STREAMS);
const server = new TunnelServer({ dialer: new DirectDialer(), ...(maxStreams > 0 ? { limits: { maxStreams } } : {}) });
const addr = await server.listen(0, '127.0.0.1');
console.log(addr.port);
