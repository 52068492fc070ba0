// What the root daemon changed on this machine, written before each change lands so that a
// crash (kill -9, power loss) is undone by the next start: the TUN link, the routes that are not
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
    const done: string[] = [];
    const nl = createRtNetlink();
    try {
      for (const r of s.routes.filter((r) => r.kind !== 'tun')) {
        await removeRoute(nl, r).then(() => done.push(`route ${r.dst}`), () => {});
      }
      const links = await nl.getLinks();
      // resolved drops a link's settings when the link goes away, so after a crash (the TUN dies
      // with its fd) there is usually nothing left to revert. Only a link that still carries our
      // name is reverted: an ifindex is reused, and reverting another link would wipe its DNS.
      const rl = s.resolvedLink;
      if (rl && links.some((l) => Number(l.data.index) === rl.ifindex && l.attrs.ifname === rl.name)) {
        await revertLink(rl.ifindex).then(() => done.push(`systemd-resolved link ${rl.name}`), () => {});
      }
      if (s.tun) {
        const link = links.find((l) => l.attrs.ifname === s.tun);
        if (link) {
          await nl.delLink({ index: link.data.index }).then(() => done.push(`link ${s.tun}`), () => {});
        }
      }
    } finally {
      nl.socket.close();
    }
    if (s.dnsRedirect) {
      await removeRedirect();
      done.push('dns redirect');
    }
    this.clear();
    return done;
  }
}
