// A real systemd-resolved, with a private D-Bus system bus, inside a workstation network namespace
// of the local cluster, for tier-3 tests of tp's systemd-resolved DNS integration.
//
// resolved is not installed on the test machines and must not be (its postinst takes over the
// host's /etc/resolv.conf), so its Debian package is fetched once into ~/.cache/tp/debs (the version
// of the installed libsystemd-shared, which the binary links) and unpacked into a directory of the
// test's own. It then runs where it can touch nothing of the host:
//   - in the workstation's network namespace: the links it watches (tp0 once tp connects), its stub
//     on 127.0.0.53 and the queries it sends are the workstation's;
//   - in a private mount namespace of its own (`unshare --mount --propagation private` inside
//     `ip netns exec`'s, itself a slave of the host's; nothing propagates back), where DIR/run is
//     bind-mounted on /run — so the files resolved writes under /run/systemd/resolve are visible
//     to the test at DIR/run/systemd/resolve — and copies of /etc/passwd and /etc/group are
//     bind-mounted over the originals, adding the `systemd-resolve` user resolved drops to;
//   - with a private dbus-daemon in that same mount namespace (it must see the same user
//     database) listening on DIR/bus.sock. Every D-Bus client — resolved, busctl, resolvectl and
//     tp's root daemon — finds it through DBUS_SYSTEM_BUS_ADDRESS.
// Both processes die with stop() (and with the workstation: its deletion kills what runs in it).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CACHE = join(homedir(), '.cache', 'tp', 'debs');

/** What resolved writes as its stub-resolv.conf while no link has search domains. */
export const STUB_RESOLV_CONF = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n';

const lastLine = (err: unknown) =>
  String((err as { stderr?: string }).stderr || (err as Error).message)
    .trim()
    .split('\n')
    .pop();

/** The systemd-resolved .deb matching the installed libsystemd-shared, or why there is none. */
export async function resolvedPackage(tools: string[] = []): Promise<{ deb: string; skip?: undefined } | { skip: string }> {
  for (const tool of ['dbus-daemon', 'busctl', 'unshare', 'dpkg', 'dpkg-query', 'apt-get', ...tools]) {
    if (
      !(await run('sh', ['-c', `command -v ${tool}`]).then(
        () => true,
        () => false,
      ))
    )
      return { skip: `${tool} is not installed` };
  }
  const version = await run('dpkg-query', ['-W', '-f=${Version}', 'libsystemd-shared']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  if (!version) return { skip: 'libsystemd-shared is not installed (the systemd-resolved binary links it)' };
  const name = () => readdirSync(CACHE).find((f) => f.startsWith(`systemd-resolved_${version.replace(':', '%3a')}_`) && f.endsWith('.deb'));
  mkdirSync(CACHE, { recursive: true });
  if (!name()) {
    try {
      // The same version as the shared library: resolved links its private, unversioned symbols.
      await run('apt-get', ['download', `systemd-resolved=${version}`], { cwd: CACHE, timeout: 180_000 });
    } catch (err) {
      return { skip: `\`apt-get download systemd-resolved=${version}\` failed (${lastLine(err)})` };
    }
  }
  const deb = name();
  return deb ? { deb: join(CACHE, deb) } : { skip: `apt-get download left no systemd-resolved_${version}_*.deb in ${CACHE}` };
}

/** A uid/gid free in both databases, for the `systemd-resolve` user when the host lacks it. */
function freeId(passwd: string, group: string): number {
  const used = new Set([...passwd.split('\n'), ...group.split('\n')].map((l) => Number(l.split(':')[2])));
  let id = 64990;
  while (used.has(id)) id--;
  return id;
}

export interface LinkState {
  dns: string[];
  domains: Array<[string, boolean]>;
  defaultRoute: boolean;
}

export interface ResolvedSandbox {
  /** DBUS_SYSTEM_BUS_ADDRESS of the private bus. */
  busAddress: string;
  /** resolvectl of the unpacked package. */
  resolvectl: string;
  /** resolved's stub-resolv.conf as the host sees it (what a real /etc/resolv.conf links to). */
  stubResolvConf: string;
  /** process.env plus DBUS_SYSTEM_BUS_ADDRESS. */
  env: NodeJS.ProcessEnv;
  /** busctl --system on the private bus; throws on failure. */
  busctl(...args: string[]): Promise<string>;
  /** The link as resolved holds it, from its D-Bus properties; undefined for a link it does not know. */
  linkState(ifindex: number): Promise<LinkState | undefined>;
  log(): string;
  stop(): Promise<void>;
}

/** Starts dbus-daemon and systemd-resolved in network namespace `netns`, with files under `dir`. */
export async function startResolvedSandbox(opts: { deb: string; netns: string; dir: string }): Promise<ResolvedSandbox> {
  const { dir } = opts;
  chmodSync(dir, 0o755); // resolved opens the bus socket and /run in here after dropping to its user
  await run('dpkg', ['-x', opts.deb, join(dir, 'pkg')]);
  const binary = ['lib/systemd/systemd-resolved', 'usr/lib/systemd/systemd-resolved']
    .map((p) => join(dir, 'pkg', p))
    .find((p) => existsSync(p));
  if (!binary) throw new Error(`${opts.deb} has no systemd-resolved binary`);

  let passwd = readFileSync('/etc/passwd', 'utf8');
  let group = readFileSync('/etc/group', 'utf8');
  let id: number;
  const existing = /^systemd-resolve:[^:]*:(\d+):(\d+):/m.exec(passwd);
  if (existing) {
    id = Number(existing[1]);
  } else {
    id = freeId(passwd, group);
    passwd += `${passwd.endsWith('\n') ? '' : '\n'}systemd-resolve:x:${id}:${id}:systemd Resolver (tp test):/:/usr/sbin/nologin\n`;
    if (!/^systemd-resolve:/m.test(group)) group += `${group.endsWith('\n') ? '' : '\n'}systemd-resolve:x:${id}:\n`;
  }
  writeFileSync(join(dir, 'passwd'), passwd);
  writeFileSync(join(dir, 'group'), group);
  // resolved's /run. The stub file exists before resolved starts so that `ip netns exec` can bind
  // it over /etc/resolv.conf when /etc/netns/NAME/resolv.conf links to it; resolved replaces it.
  const resolveDir = join(dir, 'run', 'systemd', 'resolve');
  mkdirSync(resolveDir, { recursive: true });
  chmodSync(join(dir, 'run'), 0o755);
  chmodSync(join(dir, 'run', 'systemd'), 0o755);
  const stubResolvConf = join(resolveDir, 'stub-resolv.conf');
  writeFileSync(stubResolvConf, STUB_RESOLV_CONF);
  chownSync(resolveDir, id, id);
  const busAddress = `unix:path=${dir}/bus.sock`;
  // A bus that lets anyone own any name and monitor: the policy is not what is under test.
  writeFileSync(
    join(dir, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${busAddress}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`,
  );
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress };

  const script = [
    'set -e',
    `mount --bind ${dir}/run /run`,
    `mount --bind ${dir}/passwd /etc/passwd`,
    `mount --bind ${dir}/group /etc/group`,
    `dbus-daemon --config-file=${dir}/bus.conf --nofork --nopidfile &`,
    `echo $! >${dir}/dbus.pid`,
    `i=0; while [ ! -S ${dir}/bus.sock ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ]; done`,
    `exec ${binary}`,
  ].join('\n');
  // ip netns exec → unshare → sh → exec resolved: the child's pid is resolved's.
  const daemon: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', opts.netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let log = '';
  daemon.stdout!.setEncoding('utf8').on('data', (s: string) => (log += s));
  daemon.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));

  const busctl = async (...args: string[]) => (await run('busctl', ['--system', '--timeout=5', ...args], { env })).stdout.trim();
  const stop = async () => {
    const dbusPid = Number(readFileSafe(join(dir, 'dbus.pid')).trim());
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (dbusPid > 0) {
      try {
        process.kill(dbusPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };

  const deadline = Date.now() + 15_000;
  const owned = () =>
    busctl(
      'call',
      'org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus',
      'NameHasOwner',
      's',
      'org.freedesktop.resolve1',
    ).then(
      (o) => o === 'b true',
      () => false,
    );
  while (!(await owned())) {
    if (daemon.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`systemd-resolved did not take org.freedesktop.resolve1 within 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    busAddress,
    resolvectl: join(dir, 'pkg', 'usr', 'bin', 'resolvectl'),
    stubResolvConf,
    env,
    busctl,
    async linkState(ifindex) {
      let path: string;
      try {
        path = JSON.parse(
          await busctl(
            '--json=short',
            'call',
            'org.freedesktop.resolve1',
            '/org/freedesktop/resolve1',
            'org.freedesktop.resolve1.Manager',
            'GetLink',
            'i',
            String(ifindex),
          ),
        ).data[0] as string;
      } catch (err) {
        if (/Link \d+ not known/.test(String((err as { stderr?: string }).stderr))) return undefined;
        throw err;
      }
      const prop = async (p: string) =>
        JSON.parse(await busctl('--json=short', 'get-property', 'org.freedesktop.resolve1', path, 'org.freedesktop.resolve1.Link', p))
          .data as unknown;
      const dnsEx = (await prop('DNSEx')) as Array<[number, number[], number, string]>;
      return {
        dns: dnsEx.map(([, bytes, port]) => `${bytes.join('.')}:${port || 53}`),
        domains: (await prop('Domains')) as Array<[string, boolean]>,
        defaultRoute: (await prop('DefaultRoute')) as boolean,
      };
    },
    log: () => log,
    stop,
  };
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
