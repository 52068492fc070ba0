// The traffic agent's listeners: one per redirected port (tp-agent-init sends the app port's
// inbound traffic to the agent port). Every accepted connection goes through the HTTP router of
// its port, which sends it (or each of its HTTP requests) to the app on 127.0.0.1 — which the
// REDIRECT rule does not catch —, to the workstation of an intercept, and copies it to wiretaps.
import { createServer, Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AgentPortMapping } from './init/config.js';
import type { AgentEngagement } from '../common/rpc/engagement.js';
import { probePortOf } from '../common/agent-config.js';
import type { Logger } from '../common/log.js';
import { HttpRouter, type Engagements } from './http/index.js';

export interface ForwarderOptions {
  ports: AgentPortMapping[];
  /** A stream to the owning workstation of an engagement, for one connection. */
  dial: (engagementId: string, containerPort: number, peer: string) => Promise<Duplex>;
  log: Logger;
  /** Where the app listens: 127.0.0.1 in a pod. */
  appHost?: string;
}

export function dialApp(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    s.once('error', reject);
    s.connect(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function listenOn(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Both ways, half-close kept, a reset on one side resets the other. */
function spliceSockets(a: Socket, b: Duplex): void {
  b.on('error', () => a.destroy());
  a.on('error', () => b.destroy());
  a.pipe(b);
  b.pipe(a);
  a.once('close', () => b.destroy());
  b.once('close', () => a.destroy());
}

export class Forwarder {
  #engagements: AgentEngagement[] = [];
  readonly #servers: Server[] = [];
  readonly routers = new Map<number, HttpRouter>();

  constructor(private readonly o: ForwarderOptions) {}

  /** The engagements of the workload now; new connections and requests route by them at once. */
  update(list: AgentEngagement[]): void {
    this.#engagements = list;
  }

  #routes(containerPort: number, peer: () => string): Engagements {
    const here = this.#engagements.filter((e) => e.ports.includes(containerPort));
    const open = (id: string) => () => this.o.dial(id, containerPort, peer());
    return {
      app: () => dialApp(this.o.appHost ?? '127.0.0.1', containerPort),
      intercepts: here
        .filter((e) => e.kind === 'intercept' || e.kind === 'replace')
        .map((e) => ({ id: e.id, filter: { headers: { ...(e.filter?.headers ?? {}) }, ...(e.filter?.pathPrefix ? { pathPrefix: e.filter.pathPrefix } : {}) }, open: open(e.id) })),
      wiretaps: here.filter((e) => e.kind === 'wiretap').map((e) => ({ id: e.id, open: open(e.id) })),
    };
  }

  async listen(): Promise<void> {
    for (const m of this.o.ports) {
      if (m.protocol !== 'TCP') continue;
      let currentPeer = '';
      const router = new HttpRouter({ engagements: () => this.#routes(m.containerPort, () => currentPeer), log: this.o.log });
      this.routers.set(m.containerPort, router);
      const server = createServer({ allowHalfOpen: true }, (sock) => {
        sock.on('error', () => {});
        currentPeer = `${sock.remoteAddress}:${sock.remotePort}`;
        void router.handle(sock);
      });
      await listenOn(server, m.agentPort);
      this.#servers.push(server);
      // The kubelet's probes of this port (rewritten by the webhook) always reach the app.
      const probes = createServer({ allowHalfOpen: true }, (sock) => {
        sock.on('error', () => {});
        dialApp(this.o.appHost ?? '127.0.0.1', m.containerPort).then(
          (app) => void spliceSockets(sock, app),
          () => sock.resetAndDestroy(),
        );
      });
      await listenOn(probes, probePortOf(m));
      this.#servers.push(probes);
      this.o.log.info('forwarding', { containerPort: m.containerPort, agentPort: m.agentPort, probePort: probePortOf(m), name: m.name });
    }
  }

  close(): void {
    for (const s of this.#servers) s.close();
  }
}
