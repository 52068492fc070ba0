// Engagements end to end on the manager's side (DESIGN.md §3 intercept flow, §6): set one up
// (plan the agent config, check conflicts, write the annotation, wait for the agents, tell them),
// end it (leave, session gone), and pair the streams of an engaged connection: the agent's stream
// for each accepted connection with the one the owning client opens in answer, and a client's SFTP
// stream with the agent's.
import type * as k8s from '@kubernetes/client-node';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { AgentEvent } from '../common/rpc/agent.js';
import type { AgentEngagement, EngagementInfo } from '../common/rpc/engagement.js';
import type { EngageEvent, EngageRequest, SessionEvent } from '../common/rpc/manager.js';
import { DialError } from '../proxy/dialer.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { AgentConfigError } from './agent-config.js';
import { afterLeave, planAgentConfig } from './agent-plan.js';
import type { AgentRecord, AgentRegistry } from './agents.js';
import { EngagementConflictError, EngagementRegistry, workloadKey } from './engagements.js';
import { Rendezvous } from './rendezvous.js';
import type { Session, SessionRegistry } from './sessions.js';
import { findWorkload, podsNeedRestart, restartPods, waitForAgents, workloadsWithAgents, writeAgentConfig, type WorkloadRef } from './workload-k8s.js';

export const DEFAULT_ENGAGE_TIMEOUT_MS = 120_000;
/** How long the manager waits for the agents to apply a change before it reports the engagement active anyway. */
const APPLY_WAIT_MS = 5_000;

export interface EngagementServiceDeps {
  kc: k8s.KubeConfig;
  sessions: SessionRegistry;
  agents: AgentRegistry;
  log: Logger;
  managerNamespace: string;
  /** Where agents reach the manager: written into each agent config. */
  manager: { host: string; port: number };
}

export class EngagementService {
  readonly engagements = new EngagementRegistry();
  readonly rendezvous = new Rendezvous();
  readonly #revisions = new Map<string, number>();
  readonly #sinks = new Map<string, Set<(e: SessionEvent) => boolean>>();

  constructor(private readonly d: EngagementServiceDeps) {
    this.engagements.on('change', (key: string) => this.#push(key));
    this.engagements.on('removed', (e: EngagementInfo, reason: string) => void this.#afterRemoval(e, reason));
    for (const ev of ['expire', 'depart'] as const) {
      d.sessions.on(ev, (s: Session) => {
        const gone = this.engagements.removeSession(s.id, ev === 'expire' ? 'the session expired' : 'the client disconnected');
        if (gone.length) d.log.info('ended the engagements of a session', { session: s.id, reason: ev, engagements: gone.map((e) => e.name) });
        this.#sinks.delete(s.id);
      });
    }
  }

  // ---- client side ------------------------------------------------------------------------

  async engage(req: EngageRequest, session: Session, emit: (e: EngageEvent) => boolean, signal: AbortSignal): Promise<void> {
    const { kc, log } = this.d;
    const wl = await findWorkload(kc, req.namespace, req.workload);
    const key = workloadKey(wl);
    const others = this.engagements.ofWorkload(key);
    let plan;
    try {
      plan = planAgentConfig({ workload: wl, spec: wl.spec, current: wl.config, kind: req.kind, remotePorts: req.remotePorts, others, manager: this.d.manager, ...(req.container ? { container: req.container } : {}) });
    } catch (err) {
      if (err instanceof AgentConfigError) throw new TunnelCallError('E_ENGAGE_INVALID', err.message, 400, err.hint);
      throw err;
    }
    let info: EngagementInfo;
    try {
      info = this.engagements.add({
        name: req.name ?? req.workload,
        kind: req.kind,
        sessionId: session.id,
        client: session.name,
        workload: { kind: wl.kind, name: wl.name, namespace: wl.namespace },
        container: plan.container,
        ports: plan.ports,
        ...(req.filter ? { filter: req.filter } : {}),
      });
    } catch (err) {
      if (err instanceof EngagementConflictError) throw new TunnelCallError(err.code, err.message, 409, err.hint);
      throw err;
    }
    const ended = () => this.engagements.remove(info.id, 'setting it up failed');
    signal.addEventListener('abort', ended, { once: true });
    try {
      const changed = await writeAgentConfig(kc, wl, plan.config);
      const restart = !changed && (await podsNeedRestart(kc, wl, plan.config));
      if (restart) await restartPods(kc, wl);
      log.info('engaging', { engagement: info.name, kind: info.kind, workload: key, session: session.id, agentConfigChanged: changed, restarted: restart });
      const what = `${wl.kind.toLowerCase()}/${wl.name}`;
      emit({
        type: 'progress',
        message: changed ? `Wrote the agent config to ${what}; its pods restart with the traffic agent`
          : restart ? `Restarting the pods of ${what}: some run without the traffic agent`
          : `Using the traffic agents already in ${what}`,
      });
      const agentIds = await waitForAgents(kc, wl, plan.config, this.d.agents, {
        timeoutMs: req.timeoutMs ?? DEFAULT_ENGAGE_TIMEOUT_MS,
        managerNamespace: this.d.managerNamespace,
        signal,
        progress: (message) => void emit({ type: 'progress', message }),
      });
      if (!this.engagements.get(info.id)) throw new TunnelCallError('E_ENGAGEMENT_ENDED', `engagement ${info.name} ended while it was set up`, 409);
      this.engagements.activate(info.id);
      const applied = await this.d.agents.waitApplied(agentIds, this.#revisions.get(key) ?? 0, APPLY_WAIT_MS);
      if (!applied) log.warn('not every agent confirmed the new engagements in time', { workload: key });
      const agent = this.d.agents.get(agentIds[0]);
      signal.removeEventListener('abort', ended);
      emit({ type: 'active', engagement: info, env: agent?.env ?? {}, mounts: agent?.mounts ?? [], agentPod: agent?.podName ?? '' });
    } catch (err) {
      signal.removeEventListener('abort', ended);
      this.engagements.remove(info.id, 'setting it up failed');
      throw err;
    }
  }

  leave(sessionId: string, name: string): EngagementInfo {
    const e = this.engagements.byName(sessionId, name);
    if (!e) {
      const names = this.engagements.list().filter((x) => x.sessionId === sessionId).map((x) => x.name);
      throw new TunnelCallError('E_NO_ENGAGEMENT', `this session has no engagement named ${name}`, 404, names.length ? `it has: ${names.join(', ')}` : 'see `tp list`');
    }
    this.engagements.remove(e.id, 'left');
    return e;
  }

  list(namespace?: string): EngagementInfo[] {
    return this.engagements.list().filter((e) => !namespace || e.workload.namespace === namespace);
  }

  /** Removes the agent config from one workload or all of a namespace; their engagements end. */
  async uninstall(namespace: string, workload?: string): Promise<string[]> {
    const targets: WorkloadRef[] = workload ? [await findWorkload(this.d.kc, namespace, workload)] : await workloadsWithAgents(this.d.kc, namespace);
    const done: string[] = [];
    for (const wl of targets) {
      for (const e of this.engagements.ofWorkload(workloadKey(wl))) this.engagements.remove(e.id, 'the agent was uninstalled');
      if (await writeAgentConfig(this.d.kc, wl, undefined)) done.push(`${wl.kind.toLowerCase()}/${wl.name}`);
    }
    return done;
  }

  /** A client's `sessionEvents` watch: returns the function that ends the subscription. */
  subscribe(sessionId: string, sink: (e: SessionEvent) => boolean): () => void {
    let set = this.#sinks.get(sessionId);
    if (!set) this.#sinks.set(sessionId, (set = new Set()));
    set.add(sink);
    return () => set.delete(sink);
  }

  /** A client's CONNECT answering a 'dial' event. */
  clientRendezvous(token: string, signal?: AbortSignal): Promise<Duplex> {
    return this.rendezvous.meet(token, signal);
  }

  /** A client's CONNECT for the volumes of one of its engagements: asks an agent to serve SFTP. */
  async openSftp(sessionId: string | undefined, engagementId: string, signal?: AbortSignal): Promise<Duplex> {
    const e = this.engagements.get(engagementId);
    if (!e || e.sessionId !== sessionId) throw new DialError('forbidden', 'no such engagement in this session');
    const agent = this.d.agents.ofWorkload(workloadKey(e.workload)).find((a) => a.send);
    if (!agent) throw new DialError('unreachable', `no traffic agent of ${e.workload.name} is connected`);
    const token = this.rendezvous.issue();
    if (!agent.send!({ type: 'sftp', token, readOnly: e.kind === 'ingest' || e.kind === 'wiretap' })) {
      this.rendezvous.cancel(token, 'the agent went away');
    }
    return this.rendezvous.meet(token, signal);
  }

  // ---- agent side -------------------------------------------------------------------------

  /** The agent's `agentEvents` watch starts with the workload's current engagements. */
  snapshotFor(agent: AgentRecord): AgentEvent {
    return { type: 'engagements', revision: this.#revisions.get(agent.workloadKey) ?? 0, engagements: this.#agentView(agent.workloadKey) };
  }

  /** An agent's CONNECT for an accepted connection on an engaged port. */
  async agentDial(agent: AgentRecord, engagementId: string, port: number, peer: string, signal?: AbortSignal): Promise<Duplex> {
    const e = this.engagements.get(engagementId);
    if (!e || workloadKey(e.workload) !== agent.workloadKey) throw new DialError('refused', 'the engagement has ended');
    const sinks = this.#sinks.get(e.sessionId);
    if (!sinks || sinks.size === 0) throw new DialError('unreachable', `the client ${e.client} is not connected`);
    const token = this.rendezvous.issue();
    const event: SessionEvent = { type: 'dial', token, engagementId, port, peer };
    let told = false;
    for (const sink of sinks) told = sink(event) || told;
    if (!told) {
      this.rendezvous.cancel(token, 'the client is not listening');
    }
    return this.rendezvous.meet(token, signal);
  }

  #agentView(key: string): AgentEngagement[] {
    return this.engagements.ofWorkload(key, { activeOnly: true }).map((e) => ({
      id: e.id,
      kind: e.kind,
      ports: e.ports.map((p) => p.port),
      client: e.client,
      ...(e.filter ? { filter: e.filter } : {}),
    }));
  }

  #push(key: string): void {
    const revision = (this.#revisions.get(key) ?? 0) + 1;
    this.#revisions.set(key, revision);
    const event: AgentEvent = { type: 'engagements', revision, engagements: this.#agentView(key) };
    for (const a of this.d.agents.ofWorkload(key)) a.send?.(event);
  }

  async #afterRemoval(e: EngagementInfo, reason: string): Promise<void> {
    this.d.log.info('engagement ended', { engagement: e.name, kind: e.kind, workload: workloadKey(e.workload), reason });
    for (const sink of this.#sinks.get(e.sessionId) ?? []) sink({ type: 'ended', engagementId: e.id, reason });
    if (e.kind !== 'replace') return;
    // The app container comes back once no replace of it is left.
    try {
      const wl = await findWorkload(this.d.kc, e.workload.namespace, e.workload.name);
      if (!wl.config) return;
      await writeAgentConfig(this.d.kc, wl, afterLeave(wl.config, this.engagements.ofWorkload(workloadKey(wl))));
    } catch (err) {
      this.d.log.warn('restoring the replaced container failed', { workload: workloadKey(e.workload), err });
    }
  }
}
