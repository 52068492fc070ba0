// bench/run — `npm run bench`: every figure of issue #14 from one run, each beside its goal.
// Runs the benches as child processes with --json and merges the JSON of their last lines:
//   bench/vif.js        (root: two namespaces it makes and deletes) VIF 1 and 4 flows, the peers
//                       with one client (tp VIF, dante, ssh -L, sshuttle), added latency, 10k idle
//                       flows — in a short mode (no profiles, 3 s iperf3 runs, 256 MiB per peer)
//   bench/socks.js      tp SOCKS vs direct on loopback
//   bench/cli-start.js  tp version's start-up
//   bench/cluster-suite.js  with --cluster only (cluster up, manager installed): port-forward,
//                       direct route, manager, intercept, agent and intercept/leave timings
// Each child's own output goes to stderr as it runs; stdout gets one table (figure, this run, goal,
// met) and, with --json, a last line with one JSON object of every key the children printed.
// Ratios are to the baseline of the same run; `_ms` keys are added milliseconds.
// Usage: npm run bench [-- [--json] [--cluster] [--full | --quick]]
//   --full: the children's default lengths; --quick: a smoke run (VIF 1 flow only, small
//   transfers, few runs) whose figures are not worth comparing.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GOALS, formatValue, type Figures, type Goal } from './lib/goals.js';

const JSON_OUT = process.argv.includes('--json');
const CLUSTER = process.argv.includes('--cluster');
const FULL = process.argv.includes('--full');
const QUICK = process.argv.includes('--quick');
for (const a of process.argv.slice(2)) {
  if (!['--json', '--cluster', '--full', '--quick'].includes(a))
    throw new Error(`unknown flag ${a}; flags: --json, --cluster, --full, --quick`);
}
if (FULL && QUICK) throw new Error('--full and --quick contradict each other');
/** A child's arguments by mode. */
const lengths = (m: { full: string[]; short: string[]; quick: string[] }) => (FULL ? m.full : QUICK ? m.quick : m.short);

interface Child {
  name: Goal['source'];
  script: string;
  args: string[];
  timeoutMs: number;
  skip?: string;
}

const isRoot = process.getuid?.() === 0;
const children: Child[] = [
  {
    name: 'vif',
    script: 'vif.js',
    args: lengths({
      full: ['--no-profile'],
      short: ['--no-profile', '--seconds', '3', '--repeat', '3', '--requests', '500', '--peer-mib', '256'],
      quick: ['--no-profile', '--quick', '--seconds', '2', '--peer-mib', '16'],
    }),
    timeoutMs: 20 * 60_000,
    ...(isRoot ? {} : { skip: 'needs root (network namespaces)' }),
  },
  {
    name: 'socks',
    script: 'socks.js',
    args: lengths({ full: [], short: ['--mib', '256', '--flows', '300'], quick: ['--mib', '16', '--flows', '30'] }),
    timeoutMs: 10 * 60_000,
  },
  { name: 'cli-start', script: 'cli-start.js', args: lengths({ full: [], short: [], quick: ['--runs', '3'] }), timeoutMs: 10 * 60_000 },
  {
    name: 'cluster',
    script: 'cluster-suite.js',
    args: lengths({ full: [], short: [], quick: ['--mib', '16'] }),
    timeoutMs: 45 * 60_000,
    ...(CLUSTER ? {} : { skip: 'needs --cluster (cluster up, manager installed)' }),
  },
];

let current: ReturnType<typeof spawn> | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    // The child cleans up what it made (namespaces, temp dirs) on the same signal.
    current?.kill(sig);
    if (!current) process.exit(130);
    current.once('exit', () => process.exit(130));
  });
}

/** Runs one bench with --json; its stdout and stderr go to our stderr; its last stdout line parsed. */
function runChild(c: Child): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const path = fileURLToPath(new URL(`./${c.script}`, import.meta.url));
    // Its own process group: a terminal's Ctrl-C reaches only us, and we pass it on once (a second
    // SIGINT would end a bench before it has deleted its namespaces).
    const child = spawn(process.execPath, [path, ...c.args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    current = child;
    let last = '';
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      const full = lines.filter((l) => l.trim() !== '');
      if (full.length) last = full.at(-1)!;
    });
    child.stderr!.pipe(process.stderr, { end: false });
    // SIGTERM first: the benches delete their namespaces and temp dirs on it.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, c.timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      if (pending.trim() !== '') last = pending.trim();
      if (code !== 0) return reject(new Error(`bench/${c.script} exited with ${code ?? signal}`));
      try {
        const parsed = JSON.parse(last) as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        resolve(parsed as Figures);
      } catch (err) {
        reject(new Error(`bench/${c.script}: its last line is not a JSON object (${(err as Error).message}): ${last.slice(0, 200)}`));
      }
    });
  });
}

const started = new Date();
const load0 = loadavg();
const all: Figures = {};
const failures = new Map<string, string>();
for (const c of children) {
  if (c.skip) {
    failures.set(c.name, `not run: ${c.skip}`);
    continue;
  }
  process.stderr.write(`\n=== bench/${c.script} ${c.args.join(' ')} --json\n`);
  const t0 = Date.now();
  try {
    const figures = await runChild(c);
    // The first bench to print a key keeps it: cli-start times `tp version` with hyperfine, the
    // cluster suite with its own loop.
    for (const [k, v] of Object.entries(figures)) if (!(k in all) && typeof v === 'number') all[k] = v;
  } catch (err) {
    failures.set(c.name, `failed: ${(err as Error).message}`);
  }
  process.stderr.write(`=== bench/${c.script}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
const load1 = loadavg();

const rows = GOALS.map((g) => {
  const x = all[g.key];
  if (x === undefined)
    return [
      g.figure,
      '`' + g.key + '`',
      '—',
      g.goal || '(peer)',
      failures.get(g.source) ?? (QUICK ? 'not measured in --quick' : 'not printed'),
    ];
  let met = g.met ? (g.met(x, all) ? 'met' : '**not met**') : '';
  if (g.key.startsWith('idle_') && all.idle_flows_held !== undefined && all.idle_flows_held < 10_000)
    met += ` (only ${all.idle_flows_held} flows held)`;
  return [g.figure, '`' + g.key + '`', formatValue(g, x), g.goal || '(peer)', met];
});
const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
console.log(
  `\nnpm run bench — ${started.toISOString()}, ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s; load average ${fmtLoad(load0)} at the start, ${fmtLoad(load1)} at the end\n`,
);
console.log('| figure (issue #14) | key | this run | goal | |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
const shown = new Set(GOALS.map((g) => g.key));
const extra = Object.keys(all).filter((k) => !shown.has(k));
if (extra.length) console.log(`\nalso printed: ${extra.map((k) => `${k} ${Number(all[k]!.toFixed(3))}`).join(', ')}`);
for (const [name, why] of failures) console.log(`bench ${name}: ${why}`);
if (JSON_OUT) console.log(JSON.stringify(all));
process.exit([...failures.values()].some((w) => w.startsWith('failed')) ? 1 : 0);
