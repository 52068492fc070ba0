// bench/grpc: the latency the agent adds to a unary gRPC call through a header-filtered intercept
// (issue #13), on loopback, beside the direct call measured in the same run.
//   direct:          client → app
//   agent, app path: client → agent (HTTP/2 terminated, filter: no match) → app
//   agent, ws path:  client → agent (filter matches) → workstation server
//   direct ws:       client → workstation server (the ws path's baseline)
// The workstation is reached as the agent's tests reach it (a TCP connection standing for the
// engagement's tunnel stream): the manager and the tunnel are not in this figure.
// Each party is its own process (servers, agent, client), as in a pod. Calls are sequential on
// one channel after a warm-up; each path gets the same number of calls.
// Usage: node dist/bench/grpc.js [--calls 5000] [--warmup 500]
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const role = arg('role', 'main');
const self = fileURLToPath(import.meta.url);

async function servers(): Promise<void> {
  const { startGrpcOrigin } = await import('../test/net/agent/http/grpc-harness.js');
  const app = await startGrpcOrigin('app');
  const ws = await startGrpcOrigin('ws');
  console.log(JSON.stringify({ app: app.port, ws: ws.port }));
}

async function agent(): Promise<void> {
  const { startAgent, dialer } = await import('../test/net/agent/http/harness.js');
  const ag = await startAgent({
    engagements: {
      app: dialer(Number(arg('app', '0'))),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(Number(arg('ws', '0'))) }],
      wiretaps: [],
    },
  });
  console.log(JSON.stringify({ agent: ag.port }));
}

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
async function child(args: string[]): Promise<Record<string, number>> {
  const c = spawn(process.execPath, [self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  const [line] = (await once(createInterface({ input: c.stdout! }), 'line')) as [string];
  return JSON.parse(line) as Record<string, number>;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main(): Promise<void> {
  const calls = Number(arg('calls', '5000'));
  const warmup = Number(arg('warmup', '500'));
  const { client, md, unary } = await import('../test/net/agent/http/grpc-harness.js');
  const s = await child(['--role', 'servers']);
  const a = await child(['--role', 'agent', '--app', String(s.app), '--ws', String(s.ws)]);
  const paths = [
    { name: 'direct (client → app)', port: s.app!, dev: undefined as string | undefined },
    { name: 'agent, app path (no match → app)', port: a.agent!, dev: undefined },
    { name: 'direct (client → workstation server)', port: s.ws!, dev: 'alice' },
    { name: 'agent, workstation path (match → ws)', port: a.agent!, dev: 'alice' },
  ];
  const rows: Array<{ name: string; p50: number; p99: number }> = [];
  for (const p of paths) {
    const c = client(p.port);
    const meta = md(p.dev);
    for (let i = 0; i < warmup; i++) await unary(c, { text: 'w' }, meta);
    const lat: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = process.hrtime.bigint();
      await unary(c, { text: 'x' }, meta);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    c.close();
    lat.sort((x, y) => x - y);
    rows.push({ name: p.name, p50: pct(lat, 50), p99: pct(lat, 99) });
  }
  const f = (us: number) => `${us.toFixed(0)} µs`;
  console.log(`unary gRPC, ${calls} sequential calls per path after ${warmup} warm-up, one channel, loopback\n`);
  console.log('| path | p50 | p99 | added p50 | added p99 |');
  console.log('|---|---|---|---|---|');
  const base = [rows[0]!, rows[0]!, rows[2]!, rows[2]!];
  rows.forEach((r, i) => {
    const b = base[i]!;
    const added = r === b ? '—' : `+${f(r.p50 - b.p50)}`;
    const added99 = r === b ? '—' : `+${f(r.p99 - b.p99)}`;
    console.log(`| ${r.name} | ${f(r.p50)} | ${f(r.p99)} | ${added} | ${added99} |`);
  });
  process.exit(0);
}

if (role === 'servers') await servers();
else if (role === 'agent') await agent();
else await main();
