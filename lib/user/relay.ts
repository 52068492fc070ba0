// The root daemon's way to the traffic manager: a unix socket where each connection is bridged
// to a fresh port-forward opened with the user's credentials. The root daemon thus never reads
// the user's kubeconfig (DESIGN.md §2), and it gets its own HTTP/2 session, so heavy VIF traffic
// does not queue behind the user daemon's control calls.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ManagerOpener } from '../proxy/manager-session.js';
import { splice } from '../proxy/splice.js';
import type { Logger } from '../common/log.js';

export class ManagerRelay {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly open: ManagerOpener,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    rmSync(this.path, { force: true });
    this.#server = createServer((s) => void this.#bridge(s));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
  }

  async #bridge(local: Socket): Promise<void> {
    this.#sockets.add(local);
    local.on('close', () => this.#sockets.delete(local));
    local.on('error', () => {});
    local.pause();
    try {
      const { socket: remote } = await this.open();
      // The server is not allowHalfOpen: the root daemon's HTTP/2 client never half-closes, so
      // its EOF ends the relay both ways (the splice then closes the forward) rather than leave a
      // forward open that the manager has no reason to end.
      void splice(local, remote);
    } catch (err) {
      this.log.warn('relay: cannot reach the traffic manager', { err });
      local.destroy();
    }
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.path, { force: true });
  }
}
