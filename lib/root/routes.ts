// Routes for VIF mode: the cluster's subnets into the TUN, --never-proxy subnets around it, and
// the check that finds where a cluster subnet would shadow a route the machine already has (a
// VPN, a docker bridge): such a subnet is reached through a virtual subnet (vnat.ts decides which)
// or, with --allow-conflicting-subnets, routed anyway. Pure overlap logic first; netlink at the
// edge.
import { createRtNetlink, FlagsNew, type RtNetlinkSocket as RtNetlink } from 'netlink';

// A new route must say so (NLM_F_CREATE), and must not silently replace one (NLM_F_EXCL).
const CREATE = { flags: FlagsNew.CREATE | FlagsNew.EXCL };
import { formatCidr, ipToBigInt, parseCidr, type Cidr } from '../common/cidr.js';
import { DaemonCallError } from '../common/rpc/daemon.js';

export interface ExistingRoute {
  dst: string; // CIDR
  dev: string;
  gateway?: string;
  ifindex: number;
  table: number;
  type: number;
}

const MAIN_TABLE = 254;
const UNICAST = 1;
const THROW = 9;

/** Whether two subnets share an address (prefixes either nest or are disjoint). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const width = a.family === 4 ? 32 : 128;
  const bits = Math.min(a.bits, b.bits);
  const shift = BigInt(width - bits);
  return a.base >> shift === b.base >> shift;
}

/** Existing routes (not ours, not the default route) that a wanted subnet would shadow or split. */
export function findConflicts(
  wanted: string[],
  existing: ExistingRoute[],
  ourDev: string,
): Array<{ subnet: string; route: ExistingRoute }> {
  const out: Array<{ subnet: string; route: ExistingRoute }> = [];
  for (const w of wanted) {
    const wc = parseCidr(w);
    for (const r of existing) {
      if (r.dev === ourDev || r.table !== MAIN_TABLE || r.type !== UNICAST) continue;
      const rc = parseCidr(r.dst);
      if (rc.bits === 0) continue; // the default route is what every subnet narrows; never a conflict
      if (overlaps(wc, rc)) out.push({ subnet: w, route: r });
    }
  }
  return out;
}

/** What changes when the cluster's subnets move from `current` to `next` (both normalised). */
export function subnetChanges(current: string[], next: string[]): { add: string[]; remove: string[] } {
  const norm = (l: string[]) => [...new Set(l.map((x) => formatCidr(parseCidr(x))))];
  const cur = norm(current);
  const nxt = norm(next);
  return { add: nxt.filter((x) => !cur.includes(x)), remove: cur.filter((x) => !nxt.includes(x)) };
}

/** The existing route the kernel would use for `cidr` without tp (longest prefix covering it). */
export function coveringRoute(cidr: string, existing: ExistingRoute[], ourDev: string): ExistingRoute | undefined {
  const c = parseCidr(cidr);
  return existing
    .filter((r) => r.dev !== ourDev && r.table === MAIN_TABLE && r.type === UNICAST)
    .filter((r) => {
      const rc = parseCidr(r.dst);
      return rc.family === c.family && rc.bits <= c.bits && overlaps(rc, c);
    })
    .sort((a, b) => parseCidr(b.dst).bits - parseCidr(a.dst).bits)[0];
}

function addrBuf(ip: string): Buffer {
  const { family, value } = ipToBigInt(ip);
  const len = family === 4 ? 4 : 16;
  const b = Buffer.alloc(len);
  for (let i = len - 1, v = value; i >= 0; i--, v >>= 8n) b[i] = Number(v & 255n);
  return b;
}

function bufAddr(b: Buffer): string {
  return b.length === 4 ? [...b].join('.') : formatCidr({ family: 6, base: BigInt('0x' + b.toString('hex')), bits: 128 }).split('/')[0]!;
}

export class RouteTable {
  readonly #nl: RtNetlink = createRtNetlink();
  /** What we added, so we can take it away again. */
  readonly added: Array<{ dst: string; kind: 'tun' | 'throw' | 'via'; ifindex?: number; gateway?: string }> = [];

  async list(): Promise<ExistingRoute[]> {
    const links = new Map<number, string>((await this.#nl.getLinks()).map((l) => [Number(l.data.index), String(l.attrs.ifname ?? '')]));
    const out: ExistingRoute[] = [];
    for (const family of [2, 10]) {
      for (const r of await this.#nl.getRoutes({ family })) {
        const table = Number(r.attrs.table ?? r.data.table ?? 0);
        const width = family === 2 ? 32 : 128;
        const dst = r.attrs.dst ? `${bufAddr(r.attrs.dst)}/${r.data.dstLen ?? width}` : family === 2 ? '0.0.0.0/0' : '::/0';
        const ifindex = r.attrs.oif ?? 0;
        out.push({
          dst,
          dev: links.get(ifindex) ?? '',
          ifindex,
          table,
          type: typeof r.data.type === 'number' ? r.data.type : UNICAST,
          ...(r.attrs.gateway ? { gateway: bufAddr(r.attrs.gateway) } : {}),
        });
      }
    }
    return out;
  }

  /** Routes `subnets` into the TUN (ifindex), refusing conflicts unless allowed, and keeps each
   * --never-proxy subnet on the route it had before. `throws` are --never-proxy subnets moved
   * into a virtual subnet (vnat.ts): nothing routed them before, so a throw route excludes them. */
  async apply(opts: {
    ifindex: number;
    dev: string;
    subnets: string[];
    neverProxy: string[];
    allowConflicting: boolean;
    throws?: string[];
  }): Promise<void> {
    const existing = await this.list();
    const conflicts = findConflicts(opts.subnets, existing, opts.dev);
    if (conflicts.length > 0 && !opts.allowConflicting) {
      const c = conflicts[0]!;
      throw new DaemonCallError(
        'E_SUBNET_CONFLICT',
        `the cluster subnet ${c.subnet} overlaps this machine's route ${c.route.dst} via ${c.route.dev}${c.route.gateway ? ` (gateway ${c.route.gateway})` : ''}`,
        `pass --allow-conflicting-subnets to route it through tp anyway, or --never-proxy ${c.subnet} to leave it alone`,
      );
    }
    for (const s of opts.subnets) {
      const c = parseCidr(s);
      await this.#nl.newRoute(
        { family: c.family === 4 ? 2 : 10, dstLen: c.bits, table: MAIN_TABLE, protocol: 'STATIC', scope: 'LINK', type: 'UNICAST' },
        { dst: addrBuf(formatCidr(c).split('/')[0]!), oif: opts.ifindex },
        CREATE,
      );
      this.added.push({ dst: formatCidr(c), kind: 'tun', ifindex: opts.ifindex });
    }
    for (const n of opts.neverProxy) {
      const c = parseCidr(n);
      const before = coveringRoute(formatCidr(c), existing, opts.dev);
      const family = c.family === 4 ? 2 : 10;
      const dst = addrBuf(formatCidr(c).split('/')[0]!);
      if (before) {
        await this.#nl.newRoute(
          { family, dstLen: c.bits, table: MAIN_TABLE, protocol: 'STATIC', scope: before.gateway ? 'UNIVERSE' : 'LINK', type: 'UNICAST' },
          { dst, oif: before.ifindex, ...(before.gateway ? { gateway: addrBuf(before.gateway) } : {}) },
          CREATE,
        );
        this.added.push({
          dst: formatCidr(c),
          kind: 'via',
          ifindex: before.ifindex,
          ...(before.gateway ? { gateway: before.gateway } : {}),
        });
      } else {
        // Nothing routed it before: a throw route makes the main table say "not here", as before.
        await this.#addThrow(c);
      }
    }
    for (const n of opts.throws ?? []) await this.#addThrow(parseCidr(n));
  }

  async #addThrow(c: Cidr): Promise<void> {
    const dst = addrBuf(formatCidr(c).split('/')[0]!);
    await this.#nl.newRoute(
      { family: c.family === 4 ? 2 : 10, dstLen: c.bits, table: MAIN_TABLE, protocol: 'STATIC', scope: 'UNIVERSE', type: 'THROW' },
      { dst },
      CREATE,
    );
    this.added.push({ dst: formatCidr(c), kind: 'throw' });
  }

  /** Removes the throw routes apply added inside `subnet` (a virtual subnet that is going). */
  async removeThrowsWithin(subnet: string): Promise<void> {
    const outer = parseCidr(subnet);
    for (let i = this.added.length - 1; i >= 0; i--) {
      const r = this.added[i]!;
      const c = parseCidr(r.dst);
      if (r.kind !== 'throw' || c.family !== outer.family || c.bits < outer.bits || !overlaps(c, outer)) continue;
      this.added.splice(i, 1);
      await removeRoute(this.#nl, r).catch(() => {});
    }
  }

  /** Removes the TUN routes for `subnets` that apply added (the cluster no longer has them). */
  async removeSubnets(subnets: string[]): Promise<void> {
    for (const dst of subnets.map((x) => formatCidr(parseCidr(x)))) {
      const i = this.added.findIndex((r) => r.kind === 'tun' && r.dst === dst);
      if (i < 0) continue;
      const [r] = this.added.splice(i, 1);
      await removeRoute(this.#nl, r!).catch(() => {});
    }
  }

  /** Removes what apply added (routes through the TUN also vanish with the device itself). */
  async removeAdded(): Promise<void> {
    for (const r of this.added.splice(0).reverse()) await removeRoute(this.#nl, r).catch(() => {});
  }

  close(): void {
    this.#nl.socket.close();
  }
}

/** Removes one route we added, as recorded (also used to undo a crashed daemon's leftovers). */
export async function removeRoute(nl: RtNetlink, r: { dst: string; kind: string; ifindex?: number; gateway?: string }): Promise<void> {
  const c = parseCidr(r.dst);
  // Scope NOWHERE means "any scope" to the kernel when deleting (as `ip route del` sends); the
  // default 0 would only match universe-scope routes and miss our link-scope ones.
  await nl.delRoute(
    { family: c.family === 4 ? 2 : 10, dstLen: c.bits, table: MAIN_TABLE, scope: 'NOWHERE', type: r.kind === 'throw' ? THROW : UNICAST },
    {
      dst: addrBuf(formatCidr(c).split('/')[0]!),
      ...(r.ifindex ? { oif: r.ifindex } : {}),
      ...(r.gateway ? { gateway: addrBuf(r.gateway) } : {}),
    },
  );
}

export { createRtNetlink };
