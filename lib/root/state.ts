// What the root daemon changed on this machine, written before each change lands: the revert plan
// that its guardian applies the moment the daemon dies (main.ts), and that the next start applies
// after a crash that took the guardian too (power loss): the TUN link, the routes that are not
// bound to it, the DNS integration (the iptables redirect, or the link's systemd-resolved settings).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRtNetlink } from 'netlink';
import { removeRedirect } from './dns-redirect.js';
import { revertLink } from './resolved.js';
import { removeRoute } from './routes.js';

export interface RootState {
  pid: number;
  tun?: string;
  routes: Array<{ dst: string; kind: 'tun' | 'throw' | 'via'; ifindex?: number; gateway?: string }>;
  dnsRedirect: boolean;
  /** The link whose DNS settings systemd-resolved holds for us (dns mode systemd-resolved). */
  resolvedLink?: { ifindex: number; name: string };
}

export class StateFile {
  constructor(readonly path: string) {}

  write(state: RootState): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    writeFileSync(`${this.path}.tmp`, JSON.stringify(state));
    renameSync(`${this.path}.tmp`, this.path);
  }

  read(): RootState | undefined {
    if (!existsSync(this.path)) return undefined;
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as RootState;
    } catch {
      return { pid: 0, routes: [], dnsRedirect: true };
    }
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }

  /** Undoes everything a previous daemon recorded; returns what was undone, for the log. */
  async restore(): Promise<string[]> {
    const s = this.read();
    if (!s) return [];
    const done = await revertState(s);
    this.clear();
    return done;
  }
}

/**
 * Undoes what `s` records — the one revert path, used by the guardian the moment its daemon dies
 * and by the next start after a crash that took the guardian too. Every step is idempotent and
 * independent: one that fails (already gone) does not keep the others from running. DNS first,
 * because a redirect to a dead server breaks every lookup of the machine, not only the cluster's.
 */
export async function revertState(s: RootState): Promise<string[]> {
  const done: string[] = [];
  if (s.dnsRedirect) {
    await removeRedirect();
    done.push('dns redirect');
  }
  const nl = createRtNetlink();
  try {
    const links = await nl.getLinks();
    // resolved drops a link's settings when the link goes away, so after a crash (the TUN dies
    // with its fd) there is usually nothing left to revert. Only a link that still carries our
    // name is reverted: an ifindex is reused, and reverting another link would wipe its DNS.
    const rl = s.resolvedLink;
    if (rl && links.some((l) => Number(l.data.index) === rl.ifindex && l.attrs.ifname === rl.name)) {
      await revertLink(rl.ifindex).then(
        () => done.push(`systemd-resolved link ${rl.name}`),
        () => {},
      );
    }
    for (const r of s.routes.filter((r) => r.kind !== 'tun')) {
      await removeRoute(nl, r).then(
        () => done.push(`route ${r.dst}`),
        () => {},
      );
    }
    if (s.tun) {
      const link = links.find((l) => l.attrs.ifname === s.tun);
      if (link) {
        await nl.delLink({ index: link.data.index }).then(
          () => done.push(`link ${s.tun}`),
          () => {},
        );
      }
    }
  } finally {
    nl.socket.close();
  }
  return done;
}
