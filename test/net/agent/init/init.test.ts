// tp-agent-init against the real kernel and iptables 1.8.9 (nft), in a pod-like namespace made
// by the test: "pod" (app + agent servers, eth0 10.250.7.2) and "client" (another pod, eth0
// 10.250.7.1) joined by a veth pair created inside the namespaces — the host's network is never
// touched. main.js runs inside the pod namespace as the init container would.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { netns, nextMessage, type Netns } from '../../helpers/netns.js';

const MAIN = fileURLToPath(new URL('../../../../lib/agent/init/main.js', import.meta.url));
const SERVERS = new URL('./servers-child.js', import.meta.url);
const UDP_ASK = fileURLToPath(new URL('./udp-ask-child.js', import.meta.url));
const POD_IP = '10.250.7.2';
const CLIENT_IP = '10.250.7.1';
const CONFIG = JSON.stringify({
  version: 1,
  ports: [
    { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' },
    { containerPort: 5353, protocol: 'UDP', agentPort: 9901, name: 'dns' },
  ],
});
const NET_ADMIN_SENTENCE =
  'tp-agent-init needs the NET_ADMIN capability: the pod security policy/admission of namespace shop may strip it.';

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command inside `ns` and resolves with its exit code (never rejects on non-zero). */
function exec(ns: Netns, cmd: string[], env: NodeJS.ProcessEnv = process.env): Promise<Exit> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns.name, ...cmd], { env, timeout: 20_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** tp-agent-init inside the pod, as the kubelet would start it (env config, pod namespace). */
function init(pod: Netns, args: string[] = [], opts: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Exit> {
  const env = { ...process.env, TP_AGENT_CONFIG: CONFIG, TP_POD_NAMESPACE: 'shop', ...opts.env };
  return exec(pod, [...(opts.prefix ?? []), process.execPath, MAIN, ...args], env);
}

/** The nat table as iptables-save prints it, without the timestamp comments and counters. */
async function natTable(pod: Netns): Promise<string> {
  const { stdout } = await pod.run('iptables-save', ['-t', 'nat']);
  return stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace(/\[\d+:\d+\]/g, '[0:0]');
}

async function curl(ns: Netns, url: string): Promise<string> {
  const r = await exec(ns, ['curl', '-s', '--max-time', '5', url]);
  return r.code === 0 ? r.stdout : `curl exit ${r.code}`;
}

async function udpAsk(ns: Netns, host: string, port: number): Promise<string> {
  return (await exec(ns, [process.execPath, UDP_ASK, host, String(port)])).stdout;
}

/** A pod namespace with its servers running, and a client namespace on the other end of a veth. */
async function podAndClient(t: ExecutionContext): Promise<{ pod: Netns; client: Netns }> {
  const pod = await netns(t);
  const client = await netns(t);
  // Both ends are made inside the namespaces: the veth never exists in the host's namespace.
  await pod.run('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.name]);
  for (const [ns, ip] of [
    [pod, POD_IP],
    [client, CLIENT_IP],
  ] as const) {
    await ns.run('ip', ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await ns.run('ip', ['link', 'set', 'eth0', 'up']);
  }
  const servers = [pod.node(SERVERS, ['pod']), client.node(SERVERS, ['client'])];
  await Promise.all(servers.map((c) => nextMessage(c, (m) => ((m as { ready?: boolean }).ready ? true : undefined), 10_000)));
  return { pod, client };
}

function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('after tp-agent-init, traffic from another pod to 8080 reaches the agent; the agent still reaches the app on 127.0.0.1:8080', async (t) => {
  const { pod, client } = await podAndClient(t);
  t.is(await curl(client, `http://${POD_IP}:8080/`), 'app', 'before: the app answers');

  const r = await init(pod);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(
    logLines(r.stderr).map((l) => l['step']),
    ['config', 'read-state', 'apply', 'verify'],
  );

  t.is(await curl(client, `http://${POD_IP}:8080/`), 'agent', 'from outside the pod: redirected');
  t.is(await curl(pod, 'http://127.0.0.1:8080/'), 'app', 'loopback inside the pod (the agent → app path): not redirected');
  t.is(await curl(client, `http://${POD_IP}:9900/`), 'agent');
  // The app's own outbound traffic, even to another pod's 8080, is never touched.
  t.is(await curl(pod, `http://${CLIENT_IP}:8080/`), 'client');
  // Documented limit: the pod calling its own IP goes through OUTPUT, not PREROUTING.
  t.is(await curl(pod, `http://${POD_IP}:8080/`), 'app');
});

test('UDP: a datagram from another pod to 5353 is answered by the agent; loopback still reaches the app', async (t) => {
  const { pod, client } = await podAndClient(t);
  t.is(await udpAsk(client, POD_IP, 5353), 'app');
  t.is((await init(pod)).code, 0);
  t.is(await udpAsk(client, POD_IP, 5353), 'agent');
  t.is(await udpAsk(pod, '127.0.0.1', 5353), 'app');
});

test('running tp-agent-init twice leaves exactly one hook and one set of rules; --check agrees; --remove restores the table', async (t) => {
  const { pod } = await podAndClient(t);
  const before = await natTable(pod);
  t.is((await init(pod)).code, 0);
  const once = await natTable(pod);
  const second = await init(pod);
  t.is(second.code, 0, second.stderr);
  t.is(logLines(second.stderr).find((l) => l['step'] === 'apply')!['hookAdded'], false);
  t.is(await natTable(pod), once, 'iptables-save is identical after the second run');
  t.is(once.split('\n').filter((l) => l === '-A PREROUTING -j TP_INBOUND').length, 1);
  t.is(once.split('\n').filter((l) => l.startsWith('-A TP_INBOUND ')).length, 2);

  const check = await init(pod, ['--check']);
  t.is(check.code, 0, check.stderr);

  // A rule deleted behind our back: --check fails with a sentence, a re-run repairs it.
  await pod.run('iptables', ['-t', 'nat', '-D', 'TP_INBOUND', '1']);
  const broken = await init(pod, ['--check']);
  t.is(broken.code, 1);
  t.regex(
    String(logLines(broken.stderr).at(-1)!['msg']),
    /^The redirect rules of tp-agent-init are not in place: the rule ".*--dport 8080 .*" is missing\.$/,
  );
  t.is((await init(pod)).code, 0);
  t.is(await natTable(pod), once);

  t.is((await init(pod, ['--remove'])).code, 0);
  t.is(await natTable(pod), before);
});

test('without NET_ADMIN: exit 4 and the sentence that names the namespace; nothing changed', async (t) => {
  const { pod, client } = await podAndClient(t);
  const before = await natTable(pod);
  // capsh (libcap2-bin) drops the capability from the bounding set; setpriv (util-linux) also
  // from the inheritable and ambient sets. Either way iptables meets "Permission denied".
  const prefix =
    existsSync('/usr/sbin/capsh') || existsSync('/sbin/capsh')
      ? ['capsh', '--drop=cap_net_admin', '--']
      : ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', '--'];
  // capsh runs its arguments through /bin/sh -c; setpriv execs them.
  const r =
    prefix[0] === 'capsh'
      ? await exec(pod, [...prefix, '-c', `exec "${process.execPath}" "${MAIN}"`], {
          ...process.env,
          TP_AGENT_CONFIG: CONFIG,
          TP_POD_NAMESPACE: 'shop',
        })
      : await init(pod, [], { prefix });
  t.is(r.code, 4, r.stderr);
  const last = logLines(r.stderr).at(-1)!;
  t.is(last['msg'], NET_ADMIN_SENTENCE);
  t.is(last['code'], 'E_AGENT_INIT_NET_ADMIN');
  t.is(await natTable(pod), before);
  t.is(await curl(client, `http://${POD_IP}:8080/`), 'app');
});

test('without NET_ADMIN through setpriv too: exit 4', async (t) => {
  const { pod } = await podAndClient(t);
  const r = await init(pod, [], { prefix: ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', '--'] });
  t.is(r.code, 4, r.stderr);
  t.is(logLines(r.stderr).at(-1)!['msg'], NET_ADMIN_SENTENCE);
});

test('iptables not on PATH: exit 3 with a sentence; an invalid config: exit 2 before iptables runs', async (t) => {
  const pod = await netns(t);
  // Only the init's PATH: `ip netns exec` itself must still find what it execs.
  const noIptables = await init(pod, [], { prefix: ['env', 'PATH=/nonexistent'] });
  t.is(noIptables.code, 3, noIptables.stderr);
  t.regex(String(logLines(noIptables.stderr).at(-1)!['msg']), /^tp-agent-init cannot run iptables-save: it is not installed in the image/);

  const bad = await init(pod, [], {
    env: { TP_AGENT_CONFIG: '{"version":1,"ports":[{"containerPort":8080,"protocol":"TCP","agentPort":8080}]}' },
  });
  t.is(bad.code, 2);
  t.is(
    logLines(bad.stderr).at(-1)!['msg'],
    'The agent config from env TP_AGENT_CONFIG is invalid: ports[0].agentPort 8080 is also the container port of ports[0]: the agent cannot listen on a port the app uses.',
  );
});
