// Client sessions: created by hello, kept alive by heartbeats, ended by depart or by expiry when
// heartbeats stop (a laptop that went to sleep, a killed daemon). Later issues hang engagements
// on sessions and end them when the session ends.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SessionInfo } from '../common/rpc/manager.js';

export interface Session {
  id: string;
  name: string;
  namespace: string;
  info: Record<string, string>;
  connectedAt: Date;
  lastHeartbeat: number;
}

export const HEARTBEAT_INTERVAL_MS = 5_000;

/** Events: 'expire' (Session), 'depart' (Session). */
export class SessionRegistry extends EventEmitter {
  readonly #sessions = new Map<string, Session>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly expiryMs = 6 * HEARTBEAT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  start(): void {
    this.#timer = setInterval(() => this.sweep(), Math.min(this.expiryMs / 3, 5_000));
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** A new session, or the same one again when a reconnecting client names it. */
  arrive(name: string, info: Record<string, string>, resumeId?: string): Session {
    const existing = resumeId ? this.#sessions.get(resumeId) : undefined;
    if (existing) {
      existing.lastHeartbeat = this.now();
      existing.info = info;
      return existing;
    }
    const s: Session = { id: randomUUID(), name, namespace: info.namespace || 'default', info, connectedAt: new Date(this.now()), lastHeartbeat: this.now() };
    this.#sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined): Session | undefined {
    return id === undefined ? undefined : this.#sessions.get(id);
  }

  /** Returns false for an unknown (expired) session: the client must say hello again. */
  heartbeat(id: string): boolean {
    const s = this.#sessions.get(id);
    if (!s) return false;
    s.lastHeartbeat = this.now();
    return true;
  }

  depart(id: string): void {
    const s = this.#sessions.get(id);
    if (!s) return;
    this.#sessions.delete(id);
    this.emit('depart', s);
  }

  sweep(): void {
    const t = this.now();
    for (const s of this.#sessions.values()) {
      if (t - s.lastHeartbeat > this.expiryMs) {
        this.#sessions.delete(s.id);
        this.emit('expire', s);
      }
    }
  }

  list(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({
      sessionId: s.id,
      name: s.name,
      namespace: s.namespace,
      connectedAt: s.connectedAt.toISOString(),
      lastHeartbeat: new Date(s.lastHeartbeat).toISOString(),
      info: s.info,
    }));
  }
}
