// The live engagements the manager holds: who engaged which workload, how, and in what state.
// Conflicts are decided here, under one check-and-add, so two sessions racing for one port cannot
// both win. Events tell the agent side what changed.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { conflictOf, type EngagementInfo } from '../common/rpc/engagement.js';

export const workloadKey = (w: { kind: string; name: string; namespace: string }) => `${w.namespace}/${w.kind}/${w.name}`;

export class EngagementConflictError extends Error {
  readonly code = 'E_ENGAGEMENT_CONFLICT';
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** Events: 'change' (workloadKey: string), 'removed' (EngagementInfo, reason: string). */
export class EngagementRegistry extends EventEmitter {
  readonly #byId = new Map<string, EngagementInfo>();

  /** Adds a waiting engagement, or throws EngagementConflictError naming the other session. */
  add(e: Omit<EngagementInfo, 'id' | 'state' | 'createdAt'>): EngagementInfo {
    for (const other of this.#byId.values()) {
      if (other.sessionId === e.sessionId && other.name === e.name) {
        throw new EngagementConflictError(`this session already has an engagement named ${e.name}`, `run \`tp leave ${e.name}\` first, or pass --name`);
      }
      if (workloadKey(other.workload) !== workloadKey(e.workload)) continue;
      const why = conflictOf(e, other);
      if (why) throw new EngagementConflictError(`cannot ${e.kind} ${e.workload.name}: ${why}`, other.sessionId === e.sessionId ? `run \`tp leave ${other.name}\` first` : 'use an HTTP filter (--http-header or --http-path-prefix) on both, or ask that user to leave');
    }
    const info: EngagementInfo = { ...e, id: randomUUID(), state: 'waiting', createdAt: new Date().toISOString() };
    this.#byId.set(info.id, info);
    return info;
  }

  activate(id: string): EngagementInfo | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    e.state = 'active';
    this.emit('change', workloadKey(e.workload));
    return e;
  }

  remove(id: string, reason: string): EngagementInfo | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    this.#byId.delete(id);
    this.emit('change', workloadKey(e.workload));
    this.emit('removed', e, reason);
    return e;
  }

  removeSession(sessionId: string, reason: string): EngagementInfo[] {
    const gone = this.list().filter((e) => e.sessionId === sessionId);
    for (const e of gone) this.remove(e.id, reason);
    return gone;
  }

  get(id: string): EngagementInfo | undefined {
    return this.#byId.get(id);
  }

  byName(sessionId: string, name: string): EngagementInfo | undefined {
    return this.list().find((e) => e.sessionId === sessionId && e.name === name);
  }

  ofWorkload(key: string, opts: { activeOnly?: boolean } = {}): EngagementInfo[] {
    return this.list().filter((e) => workloadKey(e.workload) === key && (!opts.activeOnly || e.state === 'active'));
  }

  list(): EngagementInfo[] {
    return [...this.#byId.values()];
  }
}
