// The traffic agents connected to the manager's agent port, by pod. An agent is alive while its
// HTTP/2 connection is (the tunnel pings it); its record carries what it reported at hello (the
// app's env and mounts) and the engagement revision it last applied.
import { EventEmitter } from 'node:events';
import type { AgentEvent } from '../common/rpc/agent.js';

export interface AgentRecord {
  id: string;
  podName: string;
  namespace: string;
  podIP: string;
  configHash: string;
  workloadKey: string;
  env: Record<string, string>;
  mounts: string[];
  appliedRevision: number;
  /** Set while the agent's event watch is open; false once the watch is gone. */
  send?: (e: AgentEvent) => boolean;
}

/** Events: 'change' (AgentRecord) on arrival, departure and every applied revision. */
export class AgentRegistry extends EventEmitter {
  readonly #byId = new Map<string, AgentRecord>();

  add(a: AgentRecord): void {
    // A pod reconnecting replaces its old record.
    for (const old of this.#byId.values()) if (old.podName === a.podName && old.namespace === a.namespace) this.#byId.delete(old.id);
    this.#byId.set(a.id, a);
    this.emit('change', a);
  }

  remove(id: string): void {
    const a = this.#byId.get(id);
    if (a && this.#byId.delete(id)) this.emit('change', a);
  }

  get(id: string | undefined): AgentRecord | undefined {
    return id === undefined ? undefined : this.#byId.get(id);
  }

  applied(id: string, revision: number): void {
    const a = this.#byId.get(id);
    if (!a) return;
    a.appliedRevision = Math.max(a.appliedRevision, revision);
    this.emit('change', a);
  }

  ofWorkload(key: string): AgentRecord[] {
    return [...this.#byId.values()].filter((a) => a.workloadKey === key);
  }

  byPod(namespace: string, podName: string): AgentRecord | undefined {
    return [...this.#byId.values()].find((a) => a.namespace === namespace && a.podName === podName);
  }

  /** Resolves once every listed agent has applied `revision` (or left), or after `ms`. */
  async waitApplied(ids: string[], revision: number, ms: number): Promise<boolean> {
    const done = () =>
      ids.every((id) => {
        const a = this.#byId.get(id);
        return !a || a.appliedRevision >= revision || !a.send;
      });
    if (done()) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => finish(false), ms);
      const check = () => done() && finish(true);
      const finish = (ok: boolean) => {
        clearTimeout(t);
        this.off('change', check);
        resolve(ok);
      };
      this.on('change', check);
    });
  }
}
