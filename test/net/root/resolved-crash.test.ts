// Tier 2, issue 18, the systemd-resolved side: the real root daemon (rootd.ts) on a workstation
// whose lookups go through a real systemd-resolved (test/helpers/resolved-sandbox.ts: private bus,
// private /run, inside the test's namespace), so tp0 gets per-link DNS. Killed with kill -9, and
// left behind by a crash that took its guardian too, the link's settings must go and the resolver
// — resolved's links, its stub-resolv.conf, what the stub answers — must be as before connect.
// Skipped, with the reason in the title, where the systemd-resolved package cannot be had.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureLink, linkDomains } from '../../../lib/root/resolved.js';
import { StateFile } from '../../../lib/root/state.js';
import { TUN_ADDRESS } from '../../../lib/root/vif-session.js';
import { resolvedPackage, startResolvedSandbox, type ResolvedSandbox } from '../../helpers/resolved-sandbox.js';
import { CLUSTER_NAME, TARGET, rootd, waitGone, type Rootd } from './rootd.js';

const RESTORE_MS = 2_000;
const pkg = await resolvedPackage(['dig']);
const tst = pkg.skip ? test.skip : test.serial;
if (pkg.skip) test.skip(`systemd-resolved crash tests skipped: ${pkg.skip}`, () => {});

async function withResolved(t: import('ava').ExecutionContext): Promise<{
  r: Rootd;
  resolved: ResolvedSandbox;
  snapshot: () => Promise<Record<string, string> & { stubAnswer: string; stubResolvConf: string; resolvedLinks: string }>;
}> {
  const r = await rootd(t, { resolvConf: 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' });
  const dir = mkdtempSync(join(tmpdir(), 'tp-resolved-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const resolved = await startResolvedSandbox({ deb: (pkg as { deb: string }).deb, netns: r.ns.name, dir });
  t.teardown(() => resolved.stop());
  // lib/root/resolved.ts (used by the test below) and the daemon find the private bus through this.
  process.env.DBUS_SYSTEM_BUS_ADDRESS = resolved.busAddress;
  t.teardown(() => void delete process.env.DBUS_SYSTEM_BUS_ADDRESS);
  const snapshot = async () => {
    const links = JSON.parse((await r.ns.run('ip', ['-j', 'link'])).stdout) as Array<{ ifindex: number; ifname: string }>;
    const held: Record<string, unknown> = {};
    for (const l of links) held[l.ifname] = await resolved.linkState(l.ifindex);
    const stub = await r.ns.run('dig', ['+short', '+time=2', '+tries=1', '@127.0.0.53', CLUSTER_NAME], { timeoutMs: 10_000 }).then(
      (o) => o.stdout.trim(),
      () => 'failed',
    );
    return {
      ...(await r.snapshot()),
      resolvedLinks: JSON.stringify(held),
      stubResolvConf: readFileSync(resolved.stubResolvConf, 'utf8'),
      stubAnswer: stub,
    };
  };
  return { r, resolved, snapshot };
}

tst(
  '#18 (systemd-resolved): kill -9 of the root daemon: within 2 s resolved holds nothing for tp0, and its stub, links and answers are as before connect',
  async (t) => {
    const { r, resolved, snapshot } = await withResolved(t);
    const before = await snapshot();
    await r.start({ env: resolved.env });
    const watch = await r.watch();
    t.teardown(() => watch.close());
    const st = await r.connect();
    t.is(st.dns?.mode, 'systemd-resolved', JSON.stringify(st));
    const during = await snapshot();
    t.is(during.stubAnswer, TARGET, 'cluster names resolve through resolved and tp0');
    t.regex(during.stubResolvConf, /search default\.svc\.cluster\.local/);
    t.regex(during.resolvedLinks, new RegExp(`"tp0":\\{"dns":\\["${TUN_ADDRESS.replace(/\./g, '\\.')}:\\d+"\\]`));
    const t0 = performance.now();
    process.kill(st.pid, 'SIGKILL');
    let ms: number | undefined;
    for (;;) {
      const started = performance.now();
      if (started - t0 > RESTORE_MS) break;
      if (JSON.stringify(await snapshot()) === JSON.stringify(before)) {
        ms = Math.round(performance.now() - t0);
        break;
      }
    }
    t.log(`kill -9 (systemd-resolved mode): resolver, links and routes as before connect after ≤ ${ms} ms`);
    t.not(
      ms,
      undefined,
      `not restored within ${RESTORE_MS} ms:\n${JSON.stringify(await snapshot(), null, 1)}\nbefore:\n${JSON.stringify(before, null, 1)}`,
    );
    t.true(await waitGone(st.guardianPid!, 3_000));
  },
);

tst(
  '#18 (systemd-resolved): crash recovery on the next start reverts the resolved link of a TUN left behind, and removes the TUN',
  async (t) => {
    const { r, resolved, snapshot } = await withResolved(t);
    const before = await snapshot();
    // What a TUN that outlived its daemon looks like: the link, still up, with tp's DNS settings
    // in resolved, and the state file that names both (written by the daemon's own writer).
    await r.ns.run('ip', ['tuntap', 'add', 'dev', 'tp0', 'mode', 'tun']);
    await r.ns.run('ip', ['link', 'set', 'tp0', 'up']);
    const ifindex = (JSON.parse((await r.ns.run('ip', ['-j', 'link', 'show', 'tp0'])).stdout) as Array<{ ifindex: number }>)[0]!.ifindex;
    await configureLink({
      ifindex,
      server: { host: TUN_ADDRESS, port: 53 },
      domains: linkDomains({ clusterDomain: 'cluster.local', namespace: 'default', namespaces: ['default'], include: [] }),
    });
    new StateFile(join(r.runtimeDir, 'root-state.json')).write({
      pid: 0,
      tun: 'tp0',
      routes: [],
      dnsRedirect: false,
      resolvedLink: { ifindex, name: 'tp0' },
    });
    const left = await snapshot();
    t.regex(left.resolvedLinks, /"tp0":\{"dns":\["198\.18\.0\.1:53"\]/, 'left behind');
    t.regex(left.stubResolvConf, /search default\.svc\.cluster\.local/);
    await r.start({ env: resolved.env });
    const undone = /"msg":"undid changes left by a previous root daemon".*/.exec(r.log())?.[0] ?? '';
    t.log(`next start undid: ${undone}`);
    t.true(undone.includes('systemd-resolved link tp0') && undone.includes('link tp0'), undone);
    // resolved rewrites its stub file when it has processed the link's removal: a moment later.
    let now = await snapshot();
    for (let i = 0; i < 20 && JSON.stringify(now) !== JSON.stringify(before); i++) now = await snapshot();
    t.deepEqual(now, before);
    await r.call('quit', {});
  },
);
