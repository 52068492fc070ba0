// #16: the agent where Pod Security "restricted" forbids tp-agent-init — ports taken over by name
// (lib/common/agent-ports.ts), the agent as a non-root uid with nothing writable. Against real
// kernels in namespaces made by the test: "pod" (app + agent, eth0 10.250.8.2) and "client"
// (another pod, 10.250.8.1) joined by a veth created inside them; no iptables rule anywhere.
//
// The agent runs as it would in a restricted pod (see `restricted` below): uid and gid 65532
// (mutate.ts AGENT_NONROOT_UID), no capabilities, no_new_privs, and every world-writable place
// (/tmp, /var/tmp, /dev/shm, /run/lock) bind-mounted read-only — in a mount namespace of its own
// (`ip netns exec` and `unshare -m` make one), so the host sees none of it. For sftp-server its
// /etc/passwd is the entry the webhook projects (agentPasswd), bind-mounted the same way.
import test, { type ExecutionContext } from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { serializeAgentConfig, type AgentConfig } from '../../../lib/common/agent-config.js';
import { silentLogger } from '../../../lib/common/log.js';
import { AGENT_NONROOT_UID, agentPasswd } from '../../../lib/manager/webhook/mutate.js';
import { mountSftp } from '../../../lib/user/mounts.js';
import { netns, nextMessage, type Netns } from '../helpers/netns.js';

const CHILD = fileURLToPath(new URL('./takeover/pod-child.js', import.meta.url));
const AGENT_MAIN = fileURLToPath(new URL('../../../lib/agent/main.js', import.meta.url));
const POD_IP = '10.250.8.2';
const CLIENT_IP = '10.250.8.1';
const UID = AGENT_NONROOT_UID;

const CONFIG: AgentConfig = {
  version: 1,
  workload: { kind: 'Deployment', name: 'echo', namespace: 'team' },
  container: 'echo',
  replace: false,
  ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' }],
  manager: { host: 'traffic-manager.tp-system', port: 8082 },
};

/** `cmd` as the agent runs in a restricted pod; see the top of the file. Run it through `ip netns
 * exec` or `unshare -m`: the mounts below must land in a mount namespace of its own. */
function restricted(cmd: string[], opts: { passwd?: string; volume?: string } = {}): string[] {
  const script = [
    'set -e',
    'for d in /tmp /var/tmp /dev/shm /run/lock; do',
    '  if [ -d "$d" ] && [ ! -L "$d" ]; then mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; fi',
    'done',
    // A pod's volume: writable, on top of the read-only rest (a bind copies the source's flags).
    ...(opts.volume ? [`mount --bind '${opts.volume}' '${opts.volume}'`, `mount -o remount,bind,rw '${opts.volume}'`] : []),
    ...(opts.passwd ? [`mount --bind '${opts.passwd}' /etc/passwd`] : []),
    `exec setpriv --reuid=${UID} --regid=${UID} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs "$@"`,
  ];
  return ['sh', '-c', script.join('\n'), 'sh', ...cmd];
}

async function curl(ns: Netns, url: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns.name, 'curl', '-s', '--max-time', '5', url], { timeout: 20_000 }, (err, stdout) => {
      resolve(err ? `curl exit ${(err as { code?: unknown }).code}` : stdout);
    });
  });
}

interface Ready {
  ready: true;
  uid: number;
  tmp: true | string;
}

/** A pod namespace with the app running, and a client namespace on the other end of a veth. */
async function podAndClient(t: ExecutionContext): Promise<{ pod: Netns; client: Netns }> {
  const pod = await netns(t);
  const client = await netns(t);
  await pod.run('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.name]);
  for (const [ns, ip] of [
    [pod, POD_IP],
    [client, CLIENT_IP],
  ] as const) {
    await ns.run('ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await ns.run('ip', ['link', 'set', 'eth0', 'up']);
  }
  await nextMessage(pod.node(CHILD, ['app']), (m) => ((m as Ready).ready ? true : undefined), 10_000);
  return { pod, client };
}

test('#16: the agent (main.js) runs as a non-root uid with nothing writable and serves the taken-over port: the agent port reaches the app, the app port is not redirected, no probe port', async (t) => {
  const { pod, client } = await podAndClient(t);
  const [sh, ...args] = restricted([process.execPath, AGENT_MAIN]);
  const agent = pod.spawn(sh!, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TP_AGENT_CONFIG: serializeAgentConfig(CONFIG), TP_POD_NAME: 'echo-1', TP_POD_IP: POD_IP, TP_LOG_LEVEL: 'info' },
  });
  let log = '';
  agent.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const forwarding = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "forwarding" line within 10 s: ${log}`)), 10_000);
    agent.stderr!.on('data', () => {
      const line = log.split('\n').find((l) => l.includes('"msg":"forwarding"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    agent.once('exit', (code) => reject(new Error(`the agent exited (${code}): ${log}`)));
  });
  t.like(forwarding, { containerPort: 8080, agentPort: 9900, takesName: 'http' });
  t.false('probePort' in forwarding, 'no probe port: probes reach the app directly');
  const status = await readFile(`/proc/${agent.pid}/status`, 'utf8');
  t.regex(status, new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, 'm'), 'the agent runs as the non-root uid');
  t.regex(status, /^CapEff:\s+0+$/m, 'with no capabilities');
  t.regex(status, /^NoNewPrivs:\s+1$/m);

  t.is(await curl(client, `http://${POD_IP}:9900/`), 'app', 'what a Service sends to the name (the agent port) reaches the app');
  t.is(await curl(client, `http://${POD_IP}:8080/`), 'app', 'the app port itself is behind no REDIRECT');
  t.regex(await curl(client, `http://${POD_IP}:10900/`), /^curl exit 7$/, 'nothing listens on a probe port');
  t.notRegex(log, /"level":"error"/, log);
  const nat = await pod.run('iptables-save', ['-t', 'nat']);
  t.false(nat.stdout.includes('TP_INBOUND'), 'no rule in the pod');
});

test("#16: an intercept takes what reaches the taken-over port to the workstation; leaving returns it to the app; the app port stays the app's throughout", async (t) => {
  const { pod, client } = await podAndClient(t);
  const [sh, ...args] = restricted([process.execPath, CHILD, 'forwarder']);
  const fwd = pod.spawn(sh!, args, {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, TP_AGENT_CONFIG: serializeAgentConfig(CONFIG) },
  });
  const ready = await nextMessage(fwd, (m) => ((m as Ready).ready ? (m as Ready) : undefined), 10_000);
  t.is(ready.uid, UID);
  t.is(ready.tmp, 'EROFS', 'the temp directory is not writable, and the agent needs none');
  const update = async (engagements: unknown[]) => {
    fwd.send({ engagements });
    await nextMessage(fwd, (m) => ((m as { updated?: boolean }).updated ? true : undefined), 5_000);
  };

  t.is(await curl(client, `http://${POD_IP}:9900/before`), 'app');
  await update([{ id: 'e1', kind: 'intercept', ports: [8080], client: 'alice@laptop' }]);
  for (let i = 0; i < 3; i++) t.is(await curl(client, `http://${POD_IP}:9900/during-${i}`), 'workstation');
  t.is(await curl(client, `http://${POD_IP}:8080/direct`), 'app', 'the app port is not redirected (only the name reaches the agent)');
  await update([]);
  t.is(await curl(client, `http://${POD_IP}:9900/after`), 'app', 'leave: the app answers again');
});

test("#16: sftp-server serves the app's volume as the agent's non-root uid, read-only root file system, given the webhook's /etc/passwd entry", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-takeover-sftp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  // The agent's view of the app's mounts (/tp/app-mounts/<container>): one file of the image's
  // root, one only root may read, and a volume the app's uid owns.
  const root = join(dir, 'app-mounts');
  const volume = join(root, 'data');
  await mkdir(volume, { recursive: true });
  await writeFile(join(root, 'config.yaml'), 'key: value\n', { mode: 0o644 });
  await writeFile(join(root, 'root-only'), 'secret\n', { mode: 0o600 });
  await chown(volume, UID, UID);
  const passwd = join(dir, 'passwd');
  await writeFile(passwd, agentPasswd({ uid: UID, gid: UID }), { mode: 0o644 });
  const mnt = join(dir, 'mnt');

  let server: ChildProcess | undefined;
  let stderr = '';
  const m = await mountSftp({
    dir: mnt,
    remotePath: root,
    readOnly: false,
    log: silentLogger,
    open: async () => {
      server = spawn(
        'unshare',
        ['-m', '--propagation', 'private', ...restricted([process.execPath, CHILD, 'sftp', root], { passwd, volume })],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      server.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      return Duplex.from({ readable: server.stdout!, writable: server.stdin! });
    },
  });
  t.teardown(async () => {
    await m.unmount();
    if (server && server.exitCode === null) {
      server.kill();
      await once(server, 'exit');
    }
  });
  t.is(await readFile(join(mnt, 'config.yaml'), 'utf8'), 'key: value\n', stderr);
  await writeFile(join(mnt, 'data', 'from-workstation.txt'), 'written through sftp');
  const written = await stat(join(volume, 'from-workstation.txt'));
  t.is(written.uid, UID, "written as the agent's uid");
  const denied = await t.throwsAsync(readFile(join(mnt, 'root-only')));
  t.is((denied as NodeJS.ErrnoException).code, 'EACCES', 'what only root may read stays unread');
  const rootWrite = await t.throwsAsync(writeFile(join(mnt, 'new-in-root.txt'), 'x'));
  t.true(['EACCES', 'EROFS', 'EPERM'].includes((rootWrite as NodeJS.ErrnoException).code!), (rootWrite as Error).message);
  t.notRegex(stderr, /No user found/);
});
