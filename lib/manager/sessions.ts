// Client sessions (issue #11): each is a Session object in the manager's namespace, created by the
// client with the user's own credentials (RBAC decides who may connect; admission checked its
// owner). The manager learns them from a watch, authenticates a hello against the hash in the
// object, keeps them alive while heartbeats come, and deletes the object when they stop (a laptop
// that slept too long, a killed daemon); the engagements of a deleted session end with it.
//
// After a manager restart nothing is lost: the objects are still there, and every session gets a
// full expiry period from the restart (or from its last recorded heartbeat, whichever is later)
// to reconnect with the same secret.
import { EventEmitter } from 'node:events';
import { secretMatches, type Owner, type SessionObject } from '../common/objects.js';

export const HEARTBEAT_INTERVAL_MS = 5_000;
/** A session whose heartbeats stopped this long ago is deleted: long enough for a reconnection
 * through a new port-forward (a few seconds) and a manager restart, short enough that a killed
 * client's intercepts go back to the app within half a minute. */
export const SESSION_EXPIRY_MS = 6 * HEARTBEAT_INTERVAL_MS;
/** How often the last heartbeat is written to the object's status (for `kubectl get sessions`
 * and for a restarted manager). Not per heartbeat: that would be a write per client every 5 s. */
export const LAST_SEEN_WRITE_MS = 60_000;

export interface LiveSession {
  readonly name: string;
  readonly uid: string;
  readonly owner: Owner;
  /** user@host, not secret. */
  readonly label: string;
  /** The client's namespace: single-label names resolve in it. */
  namespace: string;
  connections: number;
  lastSeen: number;
}

/** What the store needs from Kubernetes. */
export interface SessionCluster {
  /** A Session the watch has not delivered yet (the client created it a moment ago). */
  read(name: string): Promise<SessionObject | undefined>;
  delete(name: string): Promise<void>;
  writeLastSeen(name: string, lastSeen: Date, expiresAt: Date): Promise<void>;
}

/** Events: 'gone' (LiveSession, reason: string) when a session's object is deleted. */
export class SessionStore extends EventEmitter {
  readonly #byName = new Map<string, { obj: SessionObject; live: LiveSession }>();
  readonly #startedAt: number;
  #synced = false;
  #timer: NodeJS.Timeout | undefined;
  #lastWrite = new Map<string, number>();

  constructor(
    private readonly k: SessionCluster,
    private readonly opts: { expiryMs?: number; now?: () => number; log?: (msg: string, fields: Record<string, unknown>) => void } = {},
  ) {
    super();
    this.#startedAt = this.#now();
  }

  #now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get expiryMs(): number {
    return this.opts.expiryMs ?? SESSION_EXPIRY_MS;
  }

  /** Whether the watch has delivered the initial list (orphan checks wait for it). */
  get synced(): boolean {
    return this.#synced;
  }

  markSynced(): void {
    this.#synced = true;
  }

  start(): void {
    this.#timer = setInterval(() => void this.sweep(), Math.min(this.expiryMs / 3, 5_000));
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The watch delivered (or changed) a Session. */
  upsert(obj: SessionObject): LiveSession {
    const name = obj.metadata.name!;
    const have = this.#byName.get(name);
    if (have && have.obj.metadata.uid === obj.metadata.uid) {
      have.obj = obj;
      return have.live;
    }
    const recorded = obj.status?.lastSeen ? Date.parse(obj.status.lastSeen) : NaN;
    const live: LiveSession = {
      name,
      uid: obj.metadata.uid ?? '',
      owner: obj.spec.owner,
      label: obj.spec.label,
      namespace: 'default',
      connections: 0,
      // A restarted manager gives every session a full expiry period to come back.
      lastSeen: Math.max(
        Number.isFinite(recorded) ? recorded : 0,
        this.#startedAt,
        Date.parse(String(obj.metadata.creationTimestamp ?? '')) || 0,
      ),
    };
    this.#byName.set(name, { obj, live });
    return live;
  }

  /** The watch says the object is gone: its engagements end. */
  remove(name: string, reason = 'the session was deleted'): void {
    const have = this.#byName.get(name);
    if (!have) return;
    this.#byName.delete(name);
    this.#lastWrite.delete(name);
    this.emit('gone', have.live, reason);
  }

  get(name: string | undefined): LiveSession | undefined {
    return name === undefined ? undefined : this.#byName.get(name)?.live;
  }

  list(): LiveSession[] {
    return [...this.#byName.values()].map((e) => e.live);
  }

  /** The session a hello names, if the secret is the one its object holds. */
  async authenticate(name: string, secret: string): Promise<LiveSession | undefined> {
    let have = this.#byName.get(name);
    if (!have) {
      const obj = await this.k.read(name);
      if (obj && !obj.metadata.deletionTimestamp) this.upsert(obj);
      have = this.#byName.get(name);
    }
    if (!have || have.obj.metadata.deletionTimestamp) return undefined;
    if (!secretMatches(secret, have.obj.spec.secretHash)) return undefined;
    if (this.#now() - have.live.lastSeen > this.expiryMs && have.live.connections === 0) return undefined; // expired; the sweep deletes it
    return have.live;
  }

  heartbeat(s: LiveSession): void {
    s.lastSeen = this.#now();
  }

  connected(s: LiveSession): void {
    s.connections++;
    s.lastSeen = this.#now();
    void this.#writeLastSeen(s, true);
  }

  disconnected(s: LiveSession): void {
    s.connections = Math.max(0, s.connections - 1);
    s.lastSeen = this.#now();
  }

  /** Deletes the session now (the client departed); its engagements end when the watch says so. */
  async end(s: LiveSession): Promise<void> {
    await this.k.delete(s.name);
    this.remove(s.name, 'the client disconnected');
  }

  /** Deletes sessions whose heartbeats stopped; records last-seen of the live ones now and then. */
  async sweep(): Promise<void> {
    const t = this.#now();
    for (const { live } of [...this.#byName.values()]) {
      if (t - live.lastSeen > this.expiryMs) {
        this.opts.log?.('session expired', { session: live.name, owner: live.owner.username, idleMs: t - live.lastSeen });
        try {
          await this.k.delete(live.name);
        } catch (err) {
          this.opts.log?.('deleting an expired session failed', { session: live.name, err: (err as Error).message });
          continue;
        }
        this.remove(live.name, 'the session expired');
      } else if (live.connections > 0) {
        await this.#writeLastSeen(live, false);
      }
    }
  }

  async #writeLastSeen(s: LiveSession, force: boolean): Promise<void> {
    const t = this.#now();
    if (!force && t - (this.#lastWrite.get(s.name) ?? 0) < LAST_SEEN_WRITE_MS) return;
    this.#lastWrite.set(s.name, t);
    await this.k
      .writeLastSeen(s.name, new Date(t), new Date(t + this.expiryMs))
      .catch((err) => this.opts.log?.('recording last-seen failed', { session: s.name, err: (err as Error).message }));
  }
}
