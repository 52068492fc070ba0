// The traffic agent's listeners: one per redirected port (tp-agent-init sends the app port's
// inbound traffic to the agent port). Every accepted connection goes through the HTTP router of
// its port, which sends it (or each of its HTTP requests) to the app on 127.0.0.1 — which the
// REDIRECT rule does not catch —, to the workstation of an intercept, and copies it to wiretaps.
// Each redirected port also has a probe port (probePortOf) that always reaches the app.
//
// HTTP filters are compiled here once per engagement update (`~REGEX` values become linear-time
// RegExps, lib/agent/http/filter.ts); a pattern the agent cannot run makes that intercept take
// nothing (logged), never everything.
//
// What users should see in `tp list` (issue #13) — wiretap copies dropped because the workstation
// fell behind, and TLS connections that filtered intercepts could not see — is in traffic():
// traffic-report.ts sends it to the manager (agentTraffic), which keeps it in the Engagement's
// status and in what `tp list` shows. It is also logged every minute when it changed.
//
// Budgets (#12, lib/common/limits.ts): the router's (head, keep-alive, exchange, tunnel, head
// memory) apply to every connection of an engaged port; `budgets` overrides them (a config file
// can set the idle timeouts). A probe connection is closed after AGENT_PROBE_IDLE_MS without a
// byte and AGENT_PROBE_TOTAL_MS in all: the probe port is reachable from every pod, not only the
// kubelet.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AgentPortMapping } from '../common/agent-ports.js';
import type { AgentEngagement } from '../common/rpc/engagement.js';
import { probePortOf } from '../common/agent-config.js';
import { AGENT_PROBE_IDLE_MS, AGENT_PROBE_TOTAL_MS } from '../common/limits.js';
import type { Logger } from '../common/log.js';
import { DirectDialer } from '../proxy/direct-dialer.js';
import { HttpRouter, type Engagements, type H2Tuning, type RouterBudgets } from './http/index.js';
import { compileFilter, NEVER, type HttpFilter } from './http/filter.js';

/** What one engagement's traffic looked like on this agent, for `tp list` (see the note above). */
export interface EngagementTraffic {
  id: string;
  /** Wiretap: requests/streams copied, dropped (the workstation was behind), cut short. */
  tapCopies: number;
  tapDropped: number;
  tapAborted: number;
  /** Filtered intercept: TLS connections on its port, which its filter could not see. */
  tlsConnections: number;
}
import { needsProbePort, probeServer } from './listeners.js';

export interface ForwarderOptions {
  ports: AgentPortMapping[];
  /** A stream to the owning workstation of an engagement, for one connection. */
  dial: (engagementId: string, containerPort: number, peer: string) => Promise<Duplex>;
  log: Logger;
  /** Where the app listens: 127.0.0.1 in a pod. */
  appHost?: string;
  /** Where the agent listens: every address of the pod (0.0.0.0) unless told (tests). */
  listenHost?: string;
  /** Overrides of the router's budgets, for every engaged port. */
  budgets?: Partial<RouterBudgets>;
  /** Probe connections: idle and total limits (default AGENT_PROBE_IDLE_MS, AGENT_PROBE_TOTAL_MS). */
  probeIdleMs?: number;
  probeTotalMs?: number;
  /** Overrides of the HTTP/2 settings and timers (tests). */
  h2?: Partial<H2Tuning>;
}

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export class Forwarder {
  readonly #servers: Server[] = [];
  readonly #app = new DirectDialer();
  /** The in-cluster peer of the connection a router is serving, for the workstation's logs. */
  readonly #peer = new AsyncLocalStorage<string>();
  /** Per container port, rebuilt on each update: the router reads it at every connection and request. */
  #routes = new Map<number, Engagements>();
  readonly routers = new Map<number, HttpRouter>();
  /** Compiled filters by engagement id and spec, so an update that keeps a filter recompiles nothing. */
  #filters = new Map<string, { key: string; filter: HttpFilter }>();
  #reportTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ForwarderOptions) {
    this.update([]);
  }

  /** The engagements of the workload now; new connections and requests route by them at once. */
  update(list: AgentEngagement[]): void {
    const routes = new Map<number, Engagements>();
    for (const m of this.o.ports) {
      const port = m.containerPort;
      const here = list.filter((e) => e.ports.includes(port));
      const open = (id: string) => () => this.o.dial(id, port, this.#peer.getStore() ?? '');
      routes.set(port, {
        app: () => this.#dialApp(port),
        intercepts: here
          .filter((e) => e.kind === 'intercept' || e.kind === 'replace')
          .map((e) => ({ id: e.id, filter: this.#filterOf(e), open: open(e.id) })),
        wiretaps: here.filter((e) => e.kind === 'wiretap').map((e) => ({ id: e.id, open: open(e.id) })),
      });
    }
    this.#routes = routes;
    const live = new Set(list.map((e) => e.id));
    for (const id of this.#filters.keys()) if (!live.has(id)) this.#filters.delete(id);
  }

  #filterOf(e: AgentEngagement): HttpFilter {
    const key = JSON.stringify(e.filter ?? null);
    const had = this.#filters.get(e.id);
    if (had?.key === key) return had.filter;
    let filter: HttpFilter;
    try {
      filter = compileFilter(e.filter);
    } catch (err) {
      this.o.log.warn('an intercept has a header pattern the agent cannot run; it takes no requests', {
        engagement: e.id,
        client: e.client,
        err: (err as Error).message,
      });
      filter = NEVER;
    }
    this.#filters.set(e.id, { key, filter });
    return filter;
  }

  /** Per engagement: wiretap drops and TLS connections its filter could not see (all ports). */
  traffic(): EngagementTraffic[] {
    const by = new Map<string, EngagementTraffic>();
    const of = (id: string) => {
      let t = by.get(id);
      if (!t) by.set(id, (t = { id, tapCopies: 0, tapDropped: 0, tapAborted: 0, tlsConnections: 0 }));
      return t;
    };
    for (const r of this.routers.values()) {
      for (const [id, s] of Object.entries(r.stats.taps)) {
        const t = of(id);
        t.tapCopies += s.copies;
        t.tapDropped += s.dropped;
        t.tapAborted += s.aborted;
      }
      for (const [id, n] of Object.entries(r.stats.tlsByEngagement)) of(id).tlsConnections += n;
    }
    return [...by.values()];
  }

  #dialApp(port: number): Promise<Duplex> {
    return this.#app.dialTcp(this.o.appHost ?? '127.0.0.1', port);
  }

  async listen(): Promise<void> {
    for (const m of this.o.ports) {
      if (m.protocol !== 'TCP') continue;
      const host = this.o.listenHost ?? '0.0.0.0';
      const router = new HttpRouter({
        engagements: () => this.#routes.get(m.containerPort)!,
        log: this.o.log,
        ...(this.o.budgets ? { budgets: this.o.budgets } : {}),
        ...(this.o.h2 ? { h2: this.o.h2 } : {}),
      });
      this.routers.set(m.containerPort, router);
      const server = createServer({ allowHalfOpen: true }, (sock) => {
        sock.on('error', () => {});
        void this.#peer.run(`${sock.remoteAddress}:${sock.remotePort}`, () => router.handle(sock));
      });
      await listenOn(server, m.agentPort, host);
      this.#servers.push(server);
      // The kubelet's probes of a redirected port (rewritten by the webhook) always reach the app.
      if (needsProbePort(m)) {
        const probes = probeServer(() => this.#dialApp(m.containerPort), {
          idleMs: this.o.probeIdleMs ?? AGENT_PROBE_IDLE_MS,
          totalMs: this.o.probeTotalMs ?? AGENT_PROBE_TOTAL_MS,
        });
        await listenOn(probes, probePortOf(m), host);
        this.#servers.push(probes);
      }
      this.o.log.info('forwarding', {
        containerPort: m.containerPort,
        agentPort: m.agentPort,
        ...(needsProbePort(m) ? { probePort: probePortOf(m) } : { takesName: m.name }),
        name: m.name,
      });
    }
    let last = '';
    this.#reportTimer = setInterval(() => {
      const t = this.traffic().filter((x) => x.tapDropped || x.tapAborted || x.tlsConnections);
      const now = JSON.stringify(t);
      if (t.length && now !== last) this.o.log.info('engagement traffic the workstation did not get', { engagements: t });
      last = now;
    }, 60_000);
    this.#reportTimer.unref();
  }

  /** Stop accepting; HTTP/2 clients get a GOAWAY and their streams in flight finish. */
  close(): void {
    clearInterval(this.#reportTimer);
    for (const s of this.#servers) s.close();
    for (const r of this.routers.values()) r.close();
  }
}
