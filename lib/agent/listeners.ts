// The agent's listeners besides the routed ones (forwarder.ts): the probe port of a redirected
// port. tp-agent-init redirects every inbound connection to the app's port, the kubelet's probes
// included, so the webhook points the app's probes at probePortOf(port), where this server always
// splices to the app. A port taken over by name (issue #16) needs none: nothing redirects the
// app's port, and its probes reach the app directly.
//
// The probe port is reachable from every pod, not only the kubelet: a connection is closed after
// `idleMs` without a byte and `totalMs` in all (#12, lib/common/limits.ts).
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { takesName, type AgentPortMapping } from '../common/agent-ports.js';
import { splice } from '../proxy/splice.js';

export const needsProbePort = (m: AgentPortMapping): boolean => !takesName(m);

export function probeServer(dialApp: () => Promise<Duplex>, limits: { idleMs: number; totalMs: number }): Server {
  return createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {});
    // Reads and writes both reset a socket's timeout, so this is idle in both directions.
    sock.setTimeout(limits.idleMs, () => sock.destroy());
    const total = setTimeout(() => sock.destroy(), limits.totalMs);
    total.unref();
    sock.once('close', () => clearTimeout(total));
    dialApp().then(
      (app) => (sock.destroyed ? app.destroy() : void splice(sock, app)),
      () => sock.resetAndDestroy(),
    );
  });
}
