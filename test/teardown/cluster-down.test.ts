// Tier 3, last: `scripts/cluster down` leaves nothing behind — no process, namespace, mount,
// cgroup, iptables rule or sysctl change of ours — and the host's network is as it was before up.
import test from 'ava';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { clusterEnv, REPO_ROOT, sh } from '../helpers/cluster.js';
import { hostSnapshot, mountsUnder, type HostSnapshot } from '../helpers/host-snapshot.js';

function ourProcesses(state: string, run: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (cmdline.includes('.cache/tp/') || cmdline.includes(state) || cmdline.includes(run) || cmdline.includes('netns exec tp-node')) {
      found.push(`${pid}: ${cmdline.slice(0, 160)}`);
    }
  }
  return found;
}

test.serial('scripts/cluster down leaves nothing behind', async (t) => {
  const env = await clusterEnv();
  const whileUp = hostSnapshot();
  const down = await sh(join(REPO_ROOT, 'scripts', 'cluster'), ['down'], { timeoutMs: 120_000 });
  t.is(down.code, 0, down.stderr);
  const after = hostSnapshot();

  t.deepEqual(ourProcesses(env.STATE, env.RUN), [], 'no process of the cluster is left');
  t.false(after.netns.split('\n').includes(env.NODE_NETNS), 'the node namespace is gone');
  t.deepEqual(mountsUnder([env.STATE, env.RUN, '/run/netns/cni-', `/run/netns/${env.NODE_NETNS}`]), [], 'no mount is left');
  for (const h of readdirSync('/sys/fs/cgroup')) {
    t.false(existsSync(`/sys/fs/cgroup/${h}/kubepods`), `no kubepods cgroup in ${h}`);
  }
  t.false(existsSync(env.STATE), 'the state directory is removed');
  t.false(/KUBE-/.test(after.iptables + after.iptablesLegacy), 'no kube-proxy chain on the host');

  // The host's own network never changed, while up or after down.
  const keys: Array<keyof HostSnapshot> = [
    'routes',
    'routes6',
    'addresses',
    'links',
    'iptables',
    'ip6tables',
    'iptablesLegacy',
    'sysctls',
    'resolvConf',
  ];
  for (const k of keys) t.is(after[k], whileUp[k], `host ${k} unchanged between up and down`);

  const beforeFile = process.env.TP_HOST_SNAPSHOT;
  if (beforeFile && existsSync(beforeFile)) {
    const before = JSON.parse(readFileSync(beforeFile, 'utf8')) as HostSnapshot;
    for (const k of [...keys, 'netns', 'etcNetns'] as Array<keyof HostSnapshot>) {
      t.is(after[k], before[k], `host ${k} is as it was before scripts/cluster up`);
    }
  }
});
