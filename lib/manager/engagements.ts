// The engagements the manager routes (pure): which Engagement objects it accepted, for which
// session, and in what state. Conflicts are decided here, under one check-and-add, so two
// sessions racing for one port cannot both win: the controller feeds objects in one at a time and
// the later one is refused with a sentence naming the other. Events tell the agent side what
// changed.
import { EventEmitter } from 'node:events';
import { conflictOf, type EngagementInfo } from '../common/rpc/engagement.js';
import { TpError } from '../common/errors.js';

export const workloadKey = (w: { kind: string; name: string; namespace: string }) => `${w.namespace}/${w.kind}/${w.name}`;

/** An accepted engagement and the session whose workstation its traffic goes to. */
export interface Engaged extends EngagementInfo {
  session: string;
}

export class EngagementConflictError extends TpError {
  constructor(message: string, hint: string) {
    super('E_ENGAGEMENT_CONFLICT', message, { hint });
    this.name = 'EngagementConflictError';
  }
}

/** Events: 'change' (workloadKey: string), 'removed' (Engaged, reason: string). */
export class EngagementRegistry extends EventEmitter {
  readonly #byId = new Map<string, Engaged>();

  /** Adds a waiting engagement, or throws EngagementConflictError naming the other one. */
  add(e: Omit<Engaged, 'state'>): Engaged {
    for (const other of this.#byId.values()) {
      if (workloadKey(other.workload) !== workloadKey(e.workload)) continue;
      const why = conflictOf(e, other);
      if (why) {
        const hint =
          other.session === e.session
            ? `run \`tp leave ${other.name}\` first`
            : 'use an HTTP filter (--http-header or --http-path-prefix) on both, or ask that user to leave';
        throw new EngagementConflictError(`cannot ${e.kind} ${e.workload.name}: ${why}`, hint);
      }
    }
    const info: Engaged = { ...e, state: 'waiting' };
    this.#byId.set(info.id, info);
    return info;
  }

  activate(id: string): Engaged | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    e.state = 'active';
    delete e.message;
    this.emit('change', workloadKey(e.workload));
    return e;
  }

  remove(id: string, reason: string): Engaged | undefined {
    const e = this.#byId.get(id);
    if (!e) return undefined;
    this.#byId.delete(id);
    this.emit('change', workloadKey(e.workload));
    this.emit('removed', e, reason);
    return e;
  }

  get(id: string): Engaged | undefined {
    return this.#byId.get(id);
  }

  byName(namespace: string, name: string): Engaged | undefined {
    return this.list().find((e) => e.workload.namespace === namespace && e.name === name);
  }

  ofSession(session: string): Engaged[] {
    return this.list().filter((e) => e.session === session);
  }

  ofWorkload(key: string, opts: { activeOnly?: boolean } = {}): Engaged[] {
    return this.list().filter((e) => workloadKey(e.workload) === key && (!opts.activeOnly || e.state === 'active'));
  }

  list(): Engaged[] {
    return [...this.#byId.values()];
  }
}

/** The client-facing view: what any user who may list engagements may see. */
export function publicView(e: Engaged): EngagementInfo {
  const { session: _s, ...info } = e;
  return info;
}
