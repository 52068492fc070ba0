// The watch socket of the root daemon: each user daemon holds one connection here for as long as
// it lives. The root daemon writes RootWatchEvent lines (lib/common/rpc/root.ts) and reads
// nothing. The connection is the liveness signal both ways, with no polling: the kernel closes it
// the instant either process dies, kill -9 included, so the root daemon knows its user daemon is
// gone (follow.ts) and the user daemon knows the VIF is down (lib/user/root-link.ts).
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RootWatchEvent } from '../common/rpc/root.js';
import type { Logger } from '../common/log.js';
import type { Followers } from './follow.js';

/** Nobody has a reason to send us anything; a peer that does is cut off past this. */
const MAX_INBOUND_BYTES = 4096;

export class WatchServer {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly hello: Extract<RootWatchEvent, { type: 'hello' }>,
    private readonly tracker: Followers,
    private readonly log: Logger,
  ) {}

  async listen(mode: number): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    rmSync(this.path, { force: true });
    this.#server = createServer((s) => this.#accept(s));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.path, () => resolve());
    });
    chmodSync(this.path, mode);
  }

  #accept(s: Socket): void {
    this.#sockets.add(s);
    const detach = this.tracker.attach();
    this.log.info('user daemon attached', { followers: this.tracker.count });
    let inbound = 0;
    s.on('data', (d: Buffer) => {
      inbound += d.length;
      if (inbound > MAX_INBOUND_BYTES) s.destroy();
    });
    s.on('error', () => {});
    s.once('close', () => {
      this.#sockets.delete(s);
      detach();
      this.log.info('user daemon detached', { followers: this.tracker.count });
    });
    s.write(JSON.stringify(this.hello) + '\n');
  }

  /** Tells every follower why the daemon is leaving, then closes. */
  async close(reason?: string): Promise<void> {
    this.#server?.close();
    rmSync(this.path, { force: true });
    const closed = [...this.#sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          if (reason === undefined) s.end();
          else s.end(JSON.stringify({ type: 'exiting', reason } satisfies RootWatchEvent) + '\n');
        }),
    );
    // The peer closes its end when it reads ours; one that does not is not waited for.
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 500).unref());
    await Promise.race([Promise.all(closed), timer]);
    for (const s of this.#sockets) s.destroy();
  }
}
