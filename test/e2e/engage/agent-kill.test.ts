// Tier 3 (issue #18, the kill matrix's agent row): kill -9 of the traffic-agent container during an
// intercept. The kubelet restarts the container; the agent reconnects to the manager, learns the
// engagement again and routes to the workstation with no user action; `tp leave` then returns
// the traffic to the app.
import test from 'ava';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  fetchWithRetryJs,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-agentkill';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let tp: TpRunner;
let handler: ChildProcess | undefined;

async function inPod(url: string): Promise<string> {
  const r = await nodeInPod(
    ns.name,
    'deploy/client',
    `${fetchWithRetryJs(3)}
    fetchRetry(${JSON.stringify(url)}).then(async (r) => console.log(await r.text()), (e) => console.log('ERROR ' + (e.cause?.code ?? e.message)));`,
    30_000,
  );
  return r.stdout.trim();
}

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('agentkill');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-agentkill-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  const up = await tp(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  await applyYaml(echoWorkload(ns.name, 'echo', 1) + '---' + echoWorkload(ns.name, 'client', 1));
  for (const d of ['echo', 'client']) await waitAvailable(ns.name, d);
  const c = await tp(['connect', '--socks', '127.0.0.1:1390', '-n', ns.name]);
  if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  handler = background(
    'node',
    [
      '-e',
      `require('http').createServer((q, r) => { q.resume(); q.on('end', () => r.end('local ' + q.url + '\\n')); }).listen(9391, '127.0.0.1')`,
    ],
    WS,
  );
});

test.after.always(async () => {
  handler?.kill();
  await tp?.(['quit']);
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

test.serial(
  '#18: kill -9 of the traffic agent during an intercept: the container restarts and the intercept routes again by itself; leave returns traffic to the app',
  async (t) => {
    const r = await tp(['intercept', 'echo', '--port', '9391:http', '--mount', 'false']);
    t.is(r.code, 0, r.stderr);
    await eventually('the intercept', 60_000, async () => ((await inPod('http://echo/before')) === 'local /before' ? true : undefined));
    const pod = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    const restartsBefore = Number(
      (
        await kubectlOk([
          '-n',
          ns.name,
          'get',
          'pod',
          pod,
          '-o',
          'jsonpath={.status.containerStatuses[?(@.name=="tp-agent")].restartCount}',
        ])
      ).trim(),
    );
    // The agent's own process, as the host sees it (the pod's namespace is this echo's).
    const pids = execFileSync('pgrep', ['-f', 'dist/lib/agent/main.js'])
      .toString()
      .trim()
      .split('\n')
      .filter((pid) => {
        try {
          return execFileSync('cat', [`/proc/${pid}/environ`])
            .toString()
            .includes(`TP_POD_NAME=${pod}`);
        } catch {
          return false;
        }
      });
    t.is(pids.length, 1, 'one agent process of that pod');
    process.kill(Number(pids[0]), 'SIGKILL');
    const killedAt = Date.now();
    await eventually('the agent container restarted', 60_000, async () => {
      const n = Number(
        (
          await kubectlOk([
            '-n',
            ns.name,
            'get',
            'pod',
            pod,
            '-o',
            'jsonpath={.status.containerStatuses[?(@.name=="tp-agent")].restartCount}',
          ])
        ).trim(),
      );
      return n > restartsBefore ? true : undefined;
    });
    await eventually('the intercept to route again', 90_000, async () =>
      (await inPod('http://echo/after-agent-kill')) === 'local /after-agent-kill' ? true : undefined,
    );
    t.log(`intercepted again ${Date.now() - killedAt} ms after kill -9 of the agent`);
    t.is((await tp(['leave', 'echo'])).code, 0);
    await eventually('the app answering again', 30_000, async () =>
      /^pod: echo-/.test(await inPod('http://echo/app')) ? true : undefined,
    );
  },
);
