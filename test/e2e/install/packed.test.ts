// Tier 3 (issue 15): tp as users install it. The tarball of `npm pack`, installed offline into an
// empty project on a PATH with node, npm and a shell but no compiler, make or python (the pack
// tier checks that install on its own), connects a workstation namespace of the local cluster in
// VIF mode — the root daemon's TUN opened by the prebuilt addon inside the package — and a request
// by Service name reaches the echo pods. Where the package has no addon for the platform, tp
// connect says so in one sentence and `tp connect --socks` works instead.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  makeWorkstation,
  sh,
  testNamespace,
  waitAvailable,
  workstationSnapshot,
} from '../../helpers/cluster.js';
import { packAndInstall, type PackedInstall } from '../../helpers/packed.js';

const WS = 'tpws-packed';
const PROXY = '127.0.0.1:1080';
/** What tp runs besides node at run time (VIF: iptables for the DNS redirect, resolvectl where
 * systemd-resolved runs); `ip` only so the test can enter the workstation namespace. */
const RUNTIME_TOOLS = ['ip', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'resolvectl', 'sudo', 'getent'];

let packed: PackedInstall;
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let env: NodeJS.ProcessEnv;
let before: Record<string, string>;

/** The installed tp (node_modules/.bin/tp), in the workstation namespace, on the install's PATH. */
const tp = (args: string[]) => sh(packed.tp, args, { netns: WS, env, timeoutMs: 120_000 });
const inWs = (cmd: string, args: string[]) => sh(cmd, args, { netns: WS, timeoutMs: 20_000 });
const snapshot = () => workstationSnapshot(WS);

test.before(async () => {
  await clusterEnv();
  packed = await packAndInstall({ runtimeTools: RUNTIME_TOOLS });
  ns = await testNamespace('packed');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-packed-'));
  env = {
    ...packed.env,
    KUBECONFIG: ws.kubeconfig,
    TP_RUNTIME_DIR: join(dir, 'run'),
    TP_LOG_DIR: join(dir, 'logs'),
    TP_ROOT_RUNTIME_DIR: join(dir, 'root-run'),
  };
  await applyYaml(echoWorkload(ns.name));
  // The chart inside the tarball, rendered by the packed tp.
  const installed = await tp(['helm', 'upgrade', '--install']);
  if (installed.code !== 0) throw new Error(`packed tp helm upgrade --install: ${installed.stderr}`);
  await waitAvailable(ns.name, 'echo');
});

test.after.always(async () => {
  if (packed) await tp(['quit', '-s']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
  packed?.remove();
});

test.serial('#15: the packed tp answers --version in the workstation namespace', async (t) => {
  before = await snapshot();
  const r = await tp(['--version']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\d+\.\d+\.\d+/);
});

test.serial(
  '#15: tp connect (VIF) from the packed install: the TUN comes from its prebuild and curl reaches a Service by name',
  async (t) => {
    const r = await tp(['connect', '-n', ns.name]);
    t.is(r.code, 0, r.stderr + readLog('root-daemon.log') + readLog('user-daemon.log'));
    t.regex(r.stdout, /Interface tp0 routes/);
    for (const url of [`http://echo.${ns.name}/packed-by-name`, 'http://echo/packed-by-short-name']) {
      const c = await inWs('curl', ['-sS', '--max-time', '8', url]);
      t.is(c.code, 0, `${url}: ${c.stderr}`);
      t.regex(c.stdout, /^pod: echo-/m, url);
    }
    const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { vif: { interface: string; pid: number } };
    t.is(status.vif.interface, 'tp0');
    // The root daemon mapped the addon from the installed package, not from the checkout.
    const maps = readFileSync(`/proc/${status.vif.pid}/maps`, 'utf8');
    t.true(
      maps.includes(join(packed.pkgDir, 'prebuilds', `${process.platform}-${process.arch}`)),
      'the root daemon loaded the packed prebuild',
    );
    t.false(maps.includes('native/tun/build'), 'no development build');
    const q = await tp(['quit', '-s']);
    t.is(q.code, 0, q.stderr);
    t.deepEqual(await snapshot(), before);
  },
);

test.serial('#15: with no addon for the platform, tp connect says so in one sentence and tp connect --socks still works', async (t) => {
  const prebuilds = join(packed.pkgDir, 'prebuilds');
  renameSync(prebuilds, `${prebuilds}.gone`);
  t.teardown(() => {
    if (existsSync(`${prebuilds}.gone`)) renameSync(`${prebuilds}.gone`, prebuilds);
  });
  const r = await tp(['connect', '-n', ns.name]);
  t.is(r.code, 1, r.stdout);
  const target = `${process.platform}-${process.arch}`;
  t.true(
    r.stderr.startsWith(
      `tp: tp connect needs tp's native TUN addon for its virtual interface, and this tp has none for ${target}; use \`tp connect --socks\``,
    ),
    r.stderr,
  );
  t.is(r.stderr.trim().split('\n').length, 1, 'one sentence');
  t.deepEqual(await snapshot(), before, 'the refused connect left nothing behind');

  const s = await tp(['connect', '--socks', PROXY, '-n', ns.name]);
  t.is(s.code, 0, s.stderr);
  const c = await inWs('curl', ['-sS', '--max-time', '8', '--socks5-hostname', PROXY, `http://echo.${ns.name}/packed-socks`]);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stdout, /^pod: echo-/m);
  t.is((await tp(['quit', '-s'])).code, 0);
});

function readLog(name: string): string {
  try {
    return (
      `\n--- ${name}:\n` +
      readFileSync(join(dir, 'logs', name), 'utf8')
        .split('\n')
        .slice(-15)
        .join('\n')
    );
  } catch {
    return '';
  }
}
