// bench/vif-loopback: the root daemon's data path — kernel TCP → TUN tp0 → userspace stack →
// dial on loopback — beside the same traffic over loopback directly, in one namespace made for
// the run (the host's network is never touched). Needs root.
//   iperf3 -c / -R through tp0 vs over 127.0.0.1; 1 GiB up and down byte-exact (SHA-256 at both
//   ends, so hashing caps both numbers); CPU of the TUN-owning process (user / system) per run,
//   and its idle CPU.
// Usage: node dist/bench/vif-loopback.js [--seconds 5] [--mib 1024] [--mtu 65535] [--no-offload]
//        node dist/bench/vif-loopback.js --profile up|down [--mtu …] [--no-offload]
//          one iperf3 run that way with the owner under --cpu-prof, then its self-time summary
// It reuses the fixture of the net tests (test/net/root/harness.ts).

import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Transfer } from '../test/net/helpers/bulk.js';
import { iperf, PORTS, TARGET, vif } from '../test/net/root/harness.js';
import { summarise } from './lib/profile.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('seconds', '5'));
const MIB = Number(arg('mib', '1024'));
const MTU = Number(arg('mtu', '65535'));
const OFFLOAD = !process.argv.includes('--no-offload');
const PROFILE = arg('profile', '');

/** user and system CPU seconds of a process. */
function cpu(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

const teardowns: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => teardowns.push(fn) } as unknown as ExecutionContext;
const rows: string[][] = [['path', 'tp0', 'loopback', 'ratio', 'owner CPU user/sys (s)']];
const f2 = (x: number) => x.toFixed(2);

try {
  if (PROFILE) {
    const dir = mkdtempSync(join(tmpdir(), 'tp-vifl-prof-'));
    const v = await vif(t, { mtu: MTU, offload: OFFLOAD, ownerExecArgv: ['--cpu-prof', '--cpu-prof-dir', dir] });
    await v.iperfServer();
    const g = await iperf(v.ns, TARGET, { seconds: SECONDS, reverse: PROFILE === 'down' });
    const exited = once(v.owner, 'exit');
    v.owner.disconnect(); // exits normally, so the profile is written
    await exited;
    console.log(`iperf3 ${PROFILE} through tp0 (MTU ${MTU}, offloads ${OFFLOAD ? 'on' : 'off'}) under --cpu-prof: ${f2(g)} Gbit/s`);
    for (const f of readdirSync(dir)) console.log(summarise(join(dir, f), 16).join('\n'));
  } else {
    await measure();
  }
} finally {
  // Deletes the namespace and everything started in it (iperf3 -s, the servers, the owner).
  for (const fn of teardowns.reverse()) await fn();
}

async function measure(): Promise<void> {
  const v = await vif(t, { mtu: MTU, offload: OFFLOAD });
  console.log(`tp0: MTU ${MTU}, offloads ${OFFLOAD ? 'on' : 'off'}`);
  await v.iperfServer();
  const during = async <T>(fn: () => Promise<T>): Promise<[T, string]> => {
    const a = cpu(v.ownerPid);
    const r = await fn();
    const b = cpu(v.ownerPid);
    return [r, `${f2(b.user - a.user)} / ${f2(b.sys - a.sys)}`];
  };
  for (const reverse of [false, true]) {
    const [tp, c] = await during(() => iperf(v.ns, TARGET, { seconds: SECONDS, reverse }));
    const base = await iperf(v.ns, '127.0.0.1', { seconds: SECONDS, reverse });
    rows.push([`iperf3 -t ${SECONDS}${reverse ? ' -R' : ''} (Gbit/s)`, f2(tp), f2(base), `${f2(tp / base)}×`, c]);
  }
  for (const kind of ['upload', 'download'] as const) {
    const port = kind === 'upload' ? PORTS.sink : PORTS.source;
    const [tp, c] = await during(() => v.client<Transfer>({ kind, host: TARGET, port, bytes: MIB << 20 }));
    const base = await v.client<Transfer>({ kind, host: '127.0.0.1', port, bytes: MIB << 20 });
    if (!tp.ok || !base.ok) throw new Error(`${kind} not byte-exact: ${tp.detail ?? base.detail}`);
    rows.push([`${kind} ${MIB} MiB + SHA-256 (Gbit/s)`, f2(tp.gbitPerS), f2(base.gbitPerS), `${f2(tp.gbitPerS / base.gbitPerS)}×`, c]);
  }
  const a = cpu(v.ownerPid);
  await new Promise((r) => setTimeout(r, 5000));
  const b = cpu(v.ownerPid);
  rows.push(['idle 5 s, owner CPU', `${f2((100 * (b.user + b.sys - a.user - a.sys)) / 5)} %`, '', '', '']);
  const s = await v.stats();
  rows.push(['TUN packets/read burst', f2(s.tun.packetsRead / s.tun.readBursts), '', '', '']);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
}
