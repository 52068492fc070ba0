// The manager as the controller of Engagement objects (DESIGN.md §6, issue #11). A client creates
// an Engagement in the workload's namespace with the user's own credentials (RBAC decided it may;
// admission checked its owner); this controller sees it through a watch, checks that its session
// is alive and belongs to the same owner, decides conflicts, writes the workload's agent config,
// waits for the agents, tells them, and records each step in the object's status. Deleting the
// object — its owner's `tp leave`, an admin's `kubectl delete engagement`, the end of its session
// — ends it: the agents route to the app again at once.
//
// After a restart the controller rebuilds everything from the objects and the agents that
// reconnect: the same path as a new engagement, in creation order, with no pod restart when the
// agent config is already in place.
//
// It also pairs the streams of engaged connections: an agent's stream for each accepted
// connection meets the PAIR stream the owning session opens in answer (pairing.ts).
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { AgentEvent } from '../common/rpc/agent.js';
import { isFiltered, tlsNote, type AgentEngagement, type EngagementInfo, type TrafficCounts } from '../common/rpc/engagement.js';
import type { EngagementEvent, EngagementWatchRequest, SessionEvent } from '../common/rpc/manager.js';
import { filterText, sameOwner, type Condition, type EngagementObject, type EngagementStatus } from '../common/objects.js';
import { agentConfigHash, type AgentConfig } from '../common/agent-config.js';
import { DialError } from '../proxy/dialer.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { AgentConfigError } from './agent-config.js';
import { afterLeave, planAgentConfig } from './agent-plan.js';
import type { AgentRecord, AgentRegistry } from './agents.js';
import { EngagementConflictError, EngagementRegistry, publicView, workloadKey, type Engaged } from './engagements.js';
import { TrafficLedger, type LedgerClock } from './engagement-traffic.js';
import { Pairing } from './pairing.js';
import type { LiveSession, SessionStore } from './sessions.js';
import type { ServiceView } from './port-takeover.js';
import { agentProgress, agentTimeoutError, type PodView, type WorkloadRef } from './workload-k8s.js';
import { kubeError as kubeErrorOf } from './kube-errors.js';

/** What the controller needs from Kubernetes (kube.ts implements it with client-node). */
export interface EngagementCluster {
  findWorkload(namespace: string, name: string): Promise<WorkloadRef>;
  /** The namespace's pod-security.kubernetes.io/enforce label (issue #16). */
  podSecurityEnforce(namespace: string): Promise<string | undefined>;
  /** The namespace's Services: whether the agent can take an engaged port over by name. */
  listServices(namespace: string): Promise<ServiceView[]>;
  /** Writes (undefined: removes) the agent config; whether anything changed. */
  writeAgentConfig(wl: WorkloadRef, config: AgentConfig | undefined): Promise<boolean>;
  podsNeedRestart(wl: WorkloadRef, config: AgentConfig): Promise<boolean>;
  restartPods(wl: WorkloadRef): Promise<void>;
  listPods(wl: WorkloadRef): Promise<PodView[]>;
  warningEvents(wl: WorkloadRef, pods: string[]): Promise<string[]>;
  workloadsWithAgents(namespace: string): Promise<WorkloadRef[]>;
  setStatus(namespace: string, name: string, status: EngagementStatus): Promise<void>;
  deleteEngagement(namespace: string, name: string): Promise<void>;
}

export interface EngagementControllerDeps {
  cluster: EngagementCluster;
  sessions: SessionStore;
  agents: AgentRegistry;
  log: Logger;
  managerNamespace: string;
  /** Where agents reach the manager: written into each agent config. */
  manager: { host: string; port: number };
  /** How often the wait for agents looks at the pods. */
  pollMs?: number;
  /** The rate limit of traffic status writes (engagement-traffic.ts), and its clock (tests). */
  trafficStatusMinMs?: number;
  trafficClock?: LedgerClock;
}

/** How long the manager waits for the agents to apply a change before it reports the engagement active anyway. */
const APPLY_WAIT_MS = 5_000;
/** A watch may come a moment before the object reaches the manager's own watch. */
const OBJECT_ARRIVAL_MS = 10_000;
/** Who deleted an engagement (from the admission webhook) is kept this long for the 'ended' event. */
const DELETED_BY_MS = 60_000;

type Listener = (e: EngagementEvent | { type: 'failed'; error: TunnelCallError } | { type: 'ended'; reason: string }) => void;

interface Setup {
  abort: AbortController;
  wl?: WorkloadRef;
  config?: AgentConfig;
  messages: string[];
  failed?: TunnelCallError;
}

export class EngagementController {
  readonly registry = new EngagementRegistry();
  readonly pairing = new Pairing();
  /** Every Engagement object of this manager's sessions, by uid. */
  readonly #objects = new Map<string, EngagementObject>();
  readonly #setups = new Map<string, Setup>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #sinks = new Map<string, Set<(e: SessionEvent) => boolean>>();
  readonly #revisions = new Map<string, number>();
  readonly #deletedBy = new Map<string, { by: string; at: number }>();
  /** The conditions last written per object (a merge patch replaces the whole list). */
  readonly #conditions = new Map<string, Condition[]>();
  /** What the agents saw of each engagement's traffic (issue #13). */
  readonly traffic: TrafficLedger;
  /** Ports (by workload key) on which a filtered intercept saw TLS, and how often: a new filtered
   * intercept of such a port is warned when it becomes active. Kept for the manager's life; a
   * few numbers per workload. */
  readonly #tlsPorts = new Map<string, Map<number, number>>();
  /** Accepting, planning and writing agent configs happen one at a time (conflicts, annotations). */
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly d: EngagementControllerDeps) {
    this.traffic = new TrafficLedger({
      write: (id, t) => this.#writeTraffic(id, t),
      ...(d.trafficStatusMinMs !== undefined ? { minIntervalMs: d.trafficStatusMinMs } : {}),
      ...(d.trafficClock ? { clock: d.trafficClock } : {}),
    });
    this.registry.on('change', (key: string) => this.#pushToAgents(key));
    this.registry.on('removed', (e: Engaged, reason: string) => void this.#afterRemoval(e, reason));
    d.sessions.on('gone', (s: LiveSession, reason: string) => void this.#sessionGone(s, reason));
  }

  /** Stops every setup in progress (the manager shuts down; nothing is deleted). */
  stop(): void {
    for (const s of this.#setups.values()) s.abort.abort();
  }

  // ---- the watch of Engagement objects ------------------------------------------------------

  /** An Engagement was added or changed (the watch). Specs are immutable: only new ones matter. */
  onObject(obj: EngagementObject): void {
    const uid = obj.metadata.uid;
    if (!uid || obj.spec.session?.namespace !== this.d.managerNamespace) return;
    const known = this.#objects.has(uid);
    this.#objects.set(uid, obj);
    if (known || obj.metadata.deletionTimestamp) return;
    const setup: Setup = { abort: new AbortController(), messages: [] };
    this.#setups.set(uid, setup);
    this.#queue = this.#queue.then(() => this.#accept(obj, setup)).catch((err) => this.d.log.error('engagement setup failed', { err }));
  }

  /** An Engagement was deleted (the watch): it ends now, whoever deleted it. */
  onDeleted(obj: EngagementObject): void {
    const uid = obj.metadata.uid;
    if (!uid || !this.#objects.delete(uid)) return;
    this.#conditions.delete(uid);
    const setup = this.#setups.get(uid);
    this.#setups.delete(uid);
    setup?.abort.abort();
    const by = this.#deletedBy.get(uid)?.by;
    this.#deletedBy.delete(uid);
    const reason = by ? `deleted by ${by}` : 'deleted';
    const e = this.registry.remove(uid, reason);
    if (!e) {
      this.#emit(uid, { type: 'ended', reason });
      this.#listeners.delete(uid);
      this.#tellSession(obj.spec.session.name, {
        type: 'ended',
        engagementId: uid,
        namespace: obj.metadata.namespace!,
        name: obj.metadata.name!,
        reason,
        ...(by ? { by } : {}),
      });
    }
  }

  /** The admission webhook saw who deleted an engagement (before the watch says it is gone). */
  noteDeletion(uid: string, by: string): void {
    const t = Date.now();
    for (const [k, v] of this.#deletedBy) if (t - v.at > DELETED_BY_MS) this.#deletedBy.delete(k);
    this.#deletedBy.set(uid, { by, at: t });
  }

  /** Engagements whose session is gone (or that the watch delivered before the sessions synced):
   * deleted, so nothing is left behind. */
  async sweepOrphans(): Promise<void> {
    if (!this.d.sessions.synced) return;
    for (const obj of [...this.#objects.values()]) {
      const s = this.d.sessions.get(obj.spec.session.name);
      if (!s) await this.#delete(obj, 'its session is gone');
    }
  }

  async #accept(obj: EngagementObject, setup: Setup): Promise<void> {
    const uid = obj.metadata.uid!;
    const ns = obj.metadata.namespace!;
    const name = obj.metadata.name!;
    if (setup.abort.signal.aborted) return;
    const session = this.d.sessions.get(obj.spec.session.name);
    if (!session) {
      if (this.d.sessions.synced) await this.#delete(obj, 'its session is gone');
      return; // not synced yet: the orphan sweep decides once it is
    }
    if (!sameOwner(session.owner, obj.spec.owner)) {
      return this.#fail(
        obj,
        setup,
        new TunnelCallError('E_NOT_YOUR_SESSION', `engagement ${name} names session ${session.name}, which belongs to another user`, 403),
      );
    }
    let wl: WorkloadRef;
    let plan;
    try {
      wl = await this.d.cluster.findWorkload(ns, obj.spec.workload.name);
      const [podSecurity, services] = await Promise.all([this.d.cluster.podSecurityEnforce(ns), this.d.cluster.listServices(ns)]);
      plan = planAgentConfig({
        workload: wl,
        spec: wl.spec,
        current: wl.config,
        kind: obj.spec.type,
        remotePorts: obj.spec.ports,
        others: this.registry.ofWorkload(workloadKey(wl)),
        manager: this.d.manager,
        podSecurity,
        services,
        podLabels: wl.labels ?? wl.selector,
        ...(obj.spec.container ? { container: obj.spec.container } : {}),
      });
    } catch (err) {
      return this.#fail(obj, setup, asCallError(err, `engage ${obj.spec.workload.name} in namespace ${ns}`));
    }
    let info: Engaged;
    try {
      info = this.registry.add({
        id: uid,
        name,
        kind: obj.spec.type,
        session: session.name,
        owner: obj.spec.owner.username,
        client: session.label,
        workload: { kind: wl.kind, name: wl.name, namespace: wl.namespace },
        container: plan.container,
        ports: plan.ports,
        ...(obj.spec.filter ? { filter: obj.spec.filter } : {}),
        createdAt: String(obj.metadata.creationTimestamp ?? new Date().toISOString()),
      });
    } catch (err) {
      if (err instanceof EngagementConflictError) return this.#fail(obj, setup, new TunnelCallError(err.code, err.message, 409, err.hint));
      throw err;
    }
    setup.wl = wl;
    setup.config = plan.config;
    const what = `${wl.kind.toLowerCase()}/${wl.name}`;
    try {
      const changed = await this.d.cluster.writeAgentConfig(wl, plan.config);
      const restart = !changed && (await this.d.cluster.podsNeedRestart(wl, plan.config));
      if (restart) await this.d.cluster.restartPods(wl);
      this.d.log.info('engaging', {
        engagement: `${ns}/${name}`,
        kind: info.kind,
        workload: workloadKey(wl),
        session: session.name,
        owner: info.owner,
        agentConfigChanged: changed,
        restarted: restart,
      });
      this.#progress(
        obj,
        setup,
        changed
          ? `Wrote the agent config to ${what}; its pods restart with the traffic agent`
          : restart
            ? `Restarting the pods of ${what}: some run without the traffic agent`
            : `Using the traffic agents already in ${what}`,
        { container: plan.container, ports: portsText(plan.ports), filter: filterText(obj.spec.filter), workloadKind: wl.kind },
      );
    } catch (err) {
      this.registry.remove(uid, 'setting it up failed');
      return this.#fail(obj, setup, asCallError(err, `write the agent config of ${what}`));
    }
    void this.#awaitAgents(obj, setup, info);
  }

  /** Outside the queue: other engagements are accepted while this one waits for its pods. */
  async #awaitAgents(obj: EngagementObject, setup: Setup, info: Engaged): Promise<void> {
    const { wl, config } = setup as Required<Pick<Setup, 'wl' | 'config'>>;
    const hash = agentConfigHash(config);
    const key = workloadKey(wl);
    const signal = setup.abort.signal;
    try {
      if (wl.replicas === 0)
        throw new TunnelCallError(
          'E_SCALED_TO_ZERO',
          `${wl.kind.toLowerCase()} ${wl.name} is scaled to zero: no pod can run an agent`,
          409,
          `scale it up: kubectl scale ${wl.kind.toLowerCase()}/${wl.name} --replicas=1`,
        );
      let agentIds: string[] = [];
      while (!signal.aborted) {
        const views = await this.d.cluster.listPods(wl);
        const good = views.filter((v) => v.hash === hash && v.ready && this.d.agents.byPod(wl.namespace, v.name)?.workloadKey === key);
        if (good.length >= wl.replicas && good.length === views.length) {
          agentIds = good.map((v) => this.d.agents.byPod(wl.namespace, v.name)!.id);
          break;
        }
        this.#progress(obj, setup, agentProgress(wl, good.length, views.length));
        await sleep(this.d.pollMs ?? 1000, signal);
      }
      if (signal.aborted || !this.registry.get(info.id)) return;
      this.registry.activate(info.id);
      const applied = await this.d.agents.waitApplied(agentIds, this.#revisions.get(key) ?? 0, APPLY_WAIT_MS);
      if (!applied) this.d.log.warn('not every agent confirmed the new engagements in time', { workload: key });
      if (!this.registry.get(info.id)) return;
      const agent = this.d.agents.get(agentIds[0]);
      const warnings = this.#tlsWarnings(info);
      this.#emit(info.id, {
        type: 'active',
        engagement: publicView(info),
        env: agent?.env ?? {},
        mounts: agent?.mounts ?? [],
        agentPod: agent?.podName ?? '',
        ...(warnings.length ? { warnings } : {}),
      });
      void this.#status(obj, { state: 'Active', message: `routing to ${info.client}` }, [
        cond('AgentReady', 'True', 'AgentsConnected', `${agentIds.length} agent${agentIds.length === 1 ? '' : 's'} connected`),
        cond('Routing', 'True', 'Active', `traffic goes to ${info.client}`),
      ]);
    } catch (err) {
      if (signal.aborted) return;
      this.registry.remove(info.id, 'setting it up failed');
      this.#fail(obj, setup, asCallError(err, `wait for the agents of ${wl.kind.toLowerCase()}/${wl.name}`));
    }
  }

  #progress(obj: EngagementObject, setup: Setup, message: string, extra: EngagementStatus = {}): void {
    if (setup.messages.at(-1) === message) return;
    setup.messages.push(message);
    if (setup.messages.length > 50) setup.messages.shift();
    this.#emit(obj.metadata.uid!, { type: 'progress', message });
    void this.#status(obj, { state: 'Waiting', message, ...extra }, [
      cond('AgentReady', 'False', 'Waiting', message),
      cond('Routing', 'False', 'Waiting', 'waiting for the agents'),
    ]);
  }

  #fail(obj: EngagementObject, setup: Setup, error: TunnelCallError): void {
    setup.failed = error;
    this.d.log.info('engagement refused', {
      engagement: `${obj.metadata.namespace}/${obj.metadata.name}`,
      code: error.code,
      reason: error.message,
    });
    this.#emit(obj.metadata.uid!, { type: 'failed', error });
    void this.#status(obj, { state: 'Failed', message: error.message }, [cond('Routing', 'False', 'Failed', error.message)]);
  }

  async #status(obj: EngagementObject, status: EngagementStatus, conditions: EngagementStatus['conditions']): Promise<void> {
    if (!this.#objects.has(obj.metadata.uid!)) return;
    if (conditions) {
      conditions = this.#withTls(obj.metadata.uid!, conditions);
      this.#conditions.set(obj.metadata.uid!, conditions);
    }
    await this.d.cluster
      .setStatus(obj.metadata.namespace!, obj.metadata.name!, { ...status, ...(conditions ? { conditions } : {}) })
      .catch((err) =>
        this.d.log.debug('writing engagement status failed', {
          engagement: `${obj.metadata.namespace}/${obj.metadata.name}`,
          err: (err as Error).message,
        }),
      );
  }

  async #delete(obj: EngagementObject, reason: string): Promise<void> {
    this.d.log.info('deleting an engagement', { engagement: `${obj.metadata.namespace}/${obj.metadata.name}`, reason });
    if (obj.metadata.uid) this.#deletedBy.set(obj.metadata.uid, { by: `the traffic manager (${reason})`, at: Date.now() });
    await this.d.cluster.deleteEngagement(obj.metadata.namespace!, obj.metadata.name!).catch((err) => {
      if ((err as { code?: number }).code !== 404)
        this.d.log.warn('deleting an engagement failed', {
          engagement: `${obj.metadata.namespace}/${obj.metadata.name}`,
          err: (err as Error).message,
        });
    });
  }

  async #sessionGone(s: LiveSession, reason: string): Promise<void> {
    this.#sinks.delete(s.name);
    for (const obj of [...this.#objects.values()]) if (obj.spec.session.name === s.name) await this.#delete(obj, reason);
  }

  // ---- what clients ask ---------------------------------------------------------------------

  /** Engagements of a namespace (or all), as any user who may list them may see them. */
  list(namespace?: string): EngagementInfo[] {
    const out: EngagementInfo[] = this.registry
      .list()
      .filter((e) => !namespace || e.workload.namespace === namespace)
      .map(publicView);
    for (const obj of this.#objects.values()) {
      const setup = this.#setups.get(obj.metadata.uid!);
      if (!setup?.failed || (namespace && obj.metadata.namespace !== namespace)) continue;
      const s = this.d.sessions.get(obj.spec.session.name);
      out.push({
        id: obj.metadata.uid!,
        name: obj.metadata.name!,
        kind: obj.spec.type,
        owner: obj.spec.owner.username,
        client: s?.label ?? obj.spec.session.name,
        workload: { kind: setup.wl?.kind ?? 'Deployment', name: obj.spec.workload.name, namespace: obj.metadata.namespace! },
        container: setup.wl ? (obj.spec.container ?? '') : '',
        ports: [],
        state: 'failed',
        message: setup.failed.message,
        createdAt: String(obj.metadata.creationTimestamp ?? ''),
        ...(obj.spec.filter ? { filter: obj.spec.filter } : {}),
      });
    }
    return out;
  }

  /** The `engagement` watch: progress of one of the session's engagements until it is active (and
   * after, until it ends or the client cancels). */
  async watch(
    session: LiveSession,
    req: EngagementWatchRequest,
    emit: (e: EngagementEvent) => boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const obj = await this.#awaitObject(req.namespace, req.name, signal);
    if (!obj)
      throw new TunnelCallError(
        'E_NO_ENGAGEMENT',
        `no engagement ${req.name} in namespace ${req.namespace} reached the traffic manager`,
        404,
        'see `tp list`',
      );
    if (obj.spec.session.name !== session.name) {
      throw new TunnelCallError(
        'E_NOT_YOURS',
        `engagement ${req.name} in namespace ${req.namespace} belongs to ${obj.spec.owner.username}, not to this session`,
        403,
      );
    }
    const uid = obj.metadata.uid!;
    await new Promise<void>((resolve, reject) => {
      const setup = this.#setups.get(uid);
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#listeners.get(uid)?.delete(listener);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish();
      const listener: Listener = (e) => {
        if (e.type === 'failed') return finish(e.error);
        if (e.type === 'ended') return finish(new TunnelCallError('E_ENGAGEMENT_ENDED', `engagement ${req.name} ended: ${e.reason}`, 410));
        if (!emit(e)) return finish();
        if (e.type === 'active') clearTimeout(timer);
      };
      let set = this.#listeners.get(uid);
      if (!set) this.#listeners.set(uid, (set = new Set()));
      set.add(listener);
      signal.addEventListener('abort', onAbort, { once: true });
      // What happened before the watch began.
      for (const m of setup?.messages ?? []) emit({ type: 'progress', message: m });
      if (setup?.failed) return finish(setup.failed);
      const active = this.registry.get(uid);
      if (active?.state === 'active') {
        const agent = this.d.agents.ofWorkload(workloadKey(active.workload)).find((a) => a.send);
        const warnings = this.#tlsWarnings(active);
        emit({
          type: 'active',
          engagement: publicView(active),
          env: agent?.env ?? {},
          mounts: agent?.mounts ?? [],
          agentPod: agent?.podName ?? '',
          ...(warnings.length ? { warnings } : {}),
        });
        return;
      }
      if (req.timeoutMs) {
        timer = setTimeout(() => void this.#timeoutError(uid, req.timeoutMs!).then((err) => finish(err)), req.timeoutMs);
      }
    });
  }

  async #timeoutError(uid: string, ms: number): Promise<TunnelCallError> {
    const setup = this.#setups.get(uid);
    if (!setup?.wl || !setup.config)
      return new TunnelCallError('E_AGENT_TIMEOUT', `the engagement was not set up within ${Math.round(ms / 1000)} s`, 504);
    const views = await this.d.cluster.listPods(setup.wl).catch(() => [] as PodView[]);
    const events = await this.d.cluster.warningEvents(
      setup.wl,
      views.map((v) => v.name),
    );
    return agentTimeoutError(setup.wl, agentConfigHash(setup.config), views, events, ms, this.d.managerNamespace);
  }

  async #awaitObject(namespace: string, name: string, signal: AbortSignal): Promise<EngagementObject | undefined> {
    const find = () => [...this.#objects.values()].find((o) => o.metadata.namespace === namespace && o.metadata.name === name);
    const deadline = Date.now() + OBJECT_ARRIVAL_MS;
    while (!signal.aborted && Date.now() < deadline) {
      const o = find();
      if (o) return o;
      await sleep(100, signal);
    }
    return find();
  }

  /** A client's `sessionEvents` watch: returns the function that ends the subscription. */
  subscribe(session: string, sink: (e: SessionEvent) => boolean): () => void {
    let set = this.#sinks.get(session);
    if (!set) this.#sinks.set(session, (set = new Set()));
    set.add(sink);
    return () => set.delete(sink);
  }

  /** A client's PAIR stream answering a 'dial' event: handed to the agent's side. */
  answerAsSession(session: LiveSession, token: string, accept: () => Duplex): void {
    this.pairing.answer(token, `session:${session.name}`, accept);
  }

  /** A client's SFTP stream for the volumes of one of its engagements: asks an agent to serve it. */
  async openSftp(session: LiveSession, namespace: string, name: string, signal?: AbortSignal): Promise<Duplex> {
    const e = this.registry.byName(namespace, name);
    if (!e || e.session !== session.name)
      throw new DialError('forbidden', `this session has no engagement ${name} in namespace ${namespace}`);
    const agent = this.d.agents.ofWorkload(workloadKey(e.workload)).find((a) => a.send);
    if (!agent) throw new DialError('unreachable', `no traffic agent of ${e.workload.name} is connected`);
    const token = this.pairing.issue(`agent:${agent.id}`);
    const waiting = this.pairing.wait(token, signal);
    if (!agent.send!({ type: 'sftp', token, readOnly: e.kind === 'ingest' || e.kind === 'wiretap' }))
      this.pairing.cancel(token, 'the agent went away');
    return waiting;
  }

  /** Removes the agent config from one workload or all of a namespace; their engagements end. */
  async uninstall(namespace: string, workload?: string): Promise<string[]> {
    const targets = workload
      ? [await this.d.cluster.findWorkload(namespace, workload)]
      : await this.d.cluster.workloadsWithAgents(namespace);
    const done: string[] = [];
    for (const wl of targets) {
      for (const e of this.registry.ofWorkload(workloadKey(wl))) {
        const obj = this.#objects.get(e.id);
        if (obj) await this.#delete(obj, 'the agent was uninstalled');
      }
      if (await this.d.cluster.writeAgentConfig(wl, undefined)) done.push(`${wl.kind.toLowerCase()}/${wl.name}`);
    }
    return done;
  }

  /** Engagements of other sessions on a workload (an uninstall would end them). */
  othersOn(namespace: string, session: string, workload?: string): Engaged[] {
    return this.registry
      .list()
      .filter((e) => e.workload.namespace === namespace && e.session !== session && (!workload || e.workload.name === workload));
  }

  // ---- what agents ask ----------------------------------------------------------------------

  /** An agent's traffic report (agentTraffic): counts for engagements of its own workload only;
   * ids of other workloads' (or ended) engagements are ignored and logged. */
  agentTraffic(agent: AgentRecord, report: Array<{ id: string } & TrafficCounts>): void {
    const ignored: string[] = [];
    for (const r of report) {
      const e = this.registry.get(r.id);
      if (!e || workloadKey(e.workload) !== agent.workloadKey) {
        ignored.push(r.id);
        continue;
      }
      const sum = this.traffic.report(e.id, `${agent.namespace}/${agent.podName}`, r);
      if (!sum) continue;
      const tlsBefore = e.traffic?.tlsConnections ?? 0;
      e.traffic = sum;
      // The agent counts TLS per engagement, not per port: an engagement of one port says which.
      if (sum.tlsConnections > tlsBefore && e.ports.length === 1) {
        let ports = this.#tlsPorts.get(agent.workloadKey);
        if (!ports) this.#tlsPorts.set(agent.workloadKey, (ports = new Map()));
        const p = e.ports[0]!.port;
        ports.set(p, (ports.get(p) ?? 0) + sum.tlsConnections - tlsBefore);
      }
    }
    if (ignored.length) {
      this.d.log.info('an agent reported traffic of engagements that are not of its workload (ended, or not its own); ignored', {
        pod: `${agent.namespace}/${agent.podName}`,
        workload: agent.workloadKey,
        engagements: ignored.slice(0, 8),
        count: ignored.length,
      });
    }
  }

  /** Warnings for a filtered intercept that becomes active on a port where TLS was seen before. */
  #tlsWarnings(e: Engaged): string[] {
    if (!(e.kind === 'intercept' || e.kind === 'replace') || !isFiltered(e.filter)) return [];
    if (e.traffic?.tlsConnections) return [tlsNote(e.ports, e.traffic.tlsConnections)];
    const seen = this.#tlsPorts.get(workloadKey(e.workload));
    const ports = e.ports.filter((p) => seen?.has(p.port));
    if (!seen || ports.length === 0) return [];
    return [
      tlsNote(
        ports,
        ports.reduce((n, p) => n + seen.get(p.port)!, 0),
      ),
    ];
  }

  /** The ledger's rate-limited write of an engagement's traffic into its status, with the
   * TLSSeen condition when a filtered intercept's port carries TLS. */
  async #writeTraffic(id: string, traffic: TrafficCounts): Promise<void> {
    const obj = this.#objects.get(id);
    if (!obj) return;
    const kept = this.#conditions.get(id) ?? [];
    const conditions = this.#withTls(id, kept);
    if (conditions !== kept) this.#conditions.set(id, conditions);
    const status: EngagementStatus = { traffic, ...(conditions !== kept ? { conditions } : {}) };
    await this.d.cluster.setStatus(obj.metadata.namespace!, obj.metadata.name!, status).catch((err) =>
      this.d.log.debug('writing engagement traffic failed', {
        engagement: `${obj.metadata.namespace}/${obj.metadata.name}`,
        err: (err as Error).message,
      }),
    );
  }

  /** `conditions` with TLSSeen added when the engagement is a filtered intercept that saw TLS. */
  #withTls(id: string, conditions: Condition[]): Condition[] {
    const e = this.registry.get(id);
    const tls = this.traffic.get(id)?.tlsConnections ?? 0;
    if (!e || tls === 0 || !(e.kind === 'intercept' || e.kind === 'replace') || !isFiltered(e.filter)) return conditions;
    // Seen once, it stays seen: the time is when it was first seen.
    const had = this.#conditions.get(id)?.find((c) => c.type === 'TLSSeen');
    return [
      ...conditions.filter((c) => c.type !== 'TLSSeen'),
      { ...cond('TLSSeen', 'True', 'ClientHello', tlsNote(e.ports, tls)), ...(had ? { lastTransitionTime: had.lastTransitionTime } : {}) },
    ];
  }

  /** The agent's `agentEvents` watch starts with the workload's current engagements. */
  snapshotFor(agent: AgentRecord): AgentEvent {
    return { type: 'engagements', revision: this.#revisions.get(agent.workloadKey) ?? 0, engagements: this.#agentView(agent.workloadKey) };
  }

  /** An agent's stream for an accepted connection on an engaged port: meets the owning session's
   * PAIR stream. Only for an active engagement of the agent's own workload and one of its ports. */
  async agentDial(agent: AgentRecord, engagementId: string, port: number, peer: string, signal?: AbortSignal): Promise<Duplex> {
    const e = this.registry.get(engagementId);
    if (!e || workloadKey(e.workload) !== agent.workloadKey) throw new DialError('forbidden', 'no such engagement of this workload');
    if (e.state !== 'active') throw new DialError('refused', 'the engagement is not active');
    if (e.ports.length > 0 && !e.ports.some((p) => p.port === port)) throw new DialError('forbidden', `port ${port} is not engaged`);
    const sinks = this.#sinks.get(e.session);
    if (!sinks || sinks.size === 0) throw new DialError('unreachable', `the client ${e.client} is not connected`);
    const token = this.pairing.issue(`session:${e.session}`);
    const waiting = this.pairing.wait(token, signal);
    if (!this.#tellSession(e.session, { type: 'dial', token, engagementId, port, peer }))
      this.pairing.cancel(token, 'the client is not listening');
    return waiting;
  }

  /** An agent's PAIR stream answering an 'sftp' event: handed to the client's side. */
  answerAsAgent(agent: AgentRecord, token: string, accept: () => Duplex): void {
    this.pairing.answer(token, `agent:${agent.id}`, accept);
  }

  #agentView(key: string): AgentEngagement[] {
    return this.registry.ofWorkload(key, { activeOnly: true }).map((e) => ({
      id: e.id,
      kind: e.kind,
      ports: e.ports.map((p) => p.port),
      client: e.client,
      ...(e.filter ? { filter: e.filter } : {}),
    }));
  }

  #pushToAgents(key: string): void {
    const revision = (this.#revisions.get(key) ?? 0) + 1;
    this.#revisions.set(key, revision);
    const event: AgentEvent = { type: 'engagements', revision, engagements: this.#agentView(key) };
    for (const a of this.d.agents.ofWorkload(key)) a.send?.(event);
  }

  #tellSession(session: string, e: SessionEvent): boolean {
    let told = false;
    for (const sink of this.#sinks.get(session) ?? []) told = sink(e) || told;
    return told;
  }

  #emit(uid: string, e: Parameters<Listener>[0]): void {
    for (const l of [...(this.#listeners.get(uid) ?? [])]) l(e);
  }

  /** An accepted engagement ended (deleted, its session gone, its setup failed). */
  async #afterRemoval(e: Engaged, reason: string): Promise<void> {
    this.traffic.forget(e.id);
    this.d.log.info('engagement ended', {
      engagement: `${e.workload.namespace}/${e.name}`,
      kind: e.kind,
      workload: workloadKey(e.workload),
      reason,
    });
    const by = /^deleted by (.+)$/.exec(reason)?.[1];
    this.#emit(e.id, { type: 'ended', reason });
    this.#listeners.delete(e.id);
    this.#tellSession(e.session, {
      type: 'ended',
      engagementId: e.id,
      namespace: e.workload.namespace,
      name: e.name,
      reason,
      ...(by ? { by } : {}),
    });
    if (e.kind !== 'replace') return;
    // The app container comes back once no replace of it is left.
    this.#queue = this.#queue.then(async () => {
      try {
        const wl = await this.d.cluster.findWorkload(e.workload.namespace, e.workload.name);
        if (!wl.config) return;
        await this.d.cluster.writeAgentConfig(wl, afterLeave(wl.config, this.registry.ofWorkload(workloadKey(wl))));
      } catch (err) {
        this.d.log.warn('restoring the replaced container failed', { workload: workloadKey(e.workload), err: (err as Error).message });
      }
    });
  }
}

const cond = (type: Condition['type'], status: 'True' | 'False', reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: new Date().toISOString(),
});

const portsText = (ports: EngagementInfo['ports']) => ports.map((p) => (p.name ? `${p.port}/${p.name}` : String(p.port))).join(',');

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Any failure as one sentence for the client: refusals of the Kubernetes API through kubeError. */
function asCallError(err: unknown, doing: string): TunnelCallError {
  if (err instanceof TunnelCallError) return err;
  if (err instanceof AgentConfigError) return new TunnelCallError('E_ENGAGE_INVALID', err.message, 400, err.hint);
  const e = kubeErrorOf(err, doing);
  return e instanceof TunnelCallError
    ? e
    : new TunnelCallError('E_ENGAGE', `cannot ${doing}: ${(err as Error)?.message ?? String(err)}`, 500);
}
