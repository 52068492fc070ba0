// CLI start-up (issue #14): how long a `tp` command takes from exec to exit, beside `node -e 0`
// (Node's own start-up, the floor no JavaScript change can go below) in the same run.
//
//   npm run build && node dist/bench/cli-start.js [--runs 10] [--tp dist/lib/cli/main.cjs] [--self] [--json]
//
// Rows: node -e 0; tp --version; tp version and tp status with no daemon; the CLI's part of a
// warm `tp intercept` and of `tp leave` (with no daemon they stop at "not connected", exit 1, after
// loading what they load before asking it); tp status and tp version with a user daemon running
// (one this bench starts and stops). --tp picks the entry:
// main.cjs (what `tp` runs: the bundle), main.js (the same sources unbundled), or another build's.
// When NODE_EXTRA_CA_CERTS is set, Node 20 parses that file and its own CA store at every start
// (nodejs/node#40524), before any JavaScript runs: two more rows show node -e 0 and tp version
// without it (through `env -u`, which adds its own exec). Timed by hyperfine
// (Debian's `hyperfine`) when it is installed, else by this script (--self forces that): wall
// median/min/max of N runs after 2 warm-ups, and the mean CPU (user + system) of a run, which
// moves less than wall time on a shared machine. Everything runs in a temporary runtime, log and
// config directory: a daemon of the user's own is never seen or touched, no root daemon is asked.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('..', import.meta.url));

interface Args {
  runs: number;
  tp: string;
  self: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { runs: 10, tp: join(DIST, 'lib/cli/main.cjs'), self: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--runs') a.runs = Math.max(1, Number(argv[++i]));
    else if (f === '--tp') a.tp = resolve(argv[++i]!);
    else if (f === '--self') a.self = true;
    else if (f === '--json') a.json = true;
    else throw new Error(`unknown flag ${f}; flags: --runs N, --tp PATH (a tp main.js), --self, --json`);
  }
  return a;
}

interface Case {
  name: string;
  argv: string[];
  /** exit code it must end with (default 0) */ exit?: number;
}
interface Row {
  name: string;
  median: number;
  min: number;
  max: number;
  cpu: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function hyperfineInstalled(): boolean {
  return spawnSync('hyperfine', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** hyperfine -N (no shell in between): the wall time of each run, its mean user and system time. */
function byHyperfine(cases: Case[], runs: number, env: NodeJS.ProcessEnv, dir: string): Row[] {
  const exits = new Set(cases.map((c) => c.exit ?? 0));
  if (exits.size > 1) throw new Error('one hyperfine run measures commands with one exit code');
  for (const c of cases) {
    const code = spawnSync(c.argv[0]!, c.argv.slice(1), { env, stdio: 'ignore' }).status;
    if (code !== (c.exit ?? 0)) throw new Error(`${c.name} exited with ${code}, not ${c.exit ?? 0}`);
  }
  const out = join(dir, 'hyperfine.json');
  const quote = (s: string) => (/^[\w./=:-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
  execFileSync(
    'hyperfine',
    [
      '-N',
      ...(exits.has(0) ? [] : ['-i']),
      '--style',
      'none',
      '--warmup',
      '2',
      '--runs',
      String(runs),
      '--export-json',
      out,
      ...cases.flatMap((c) => ['-n', c.name, c.argv.map(quote).join(' ')]),
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const r = JSON.parse(readFileSync(out, 'utf8')) as { results: Array<{ command: string; times: number[]; user: number; system: number }> };
  return r.results.map((x) => ({
    name: x.command,
    median: median(x.times) * 1000,
    min: Math.min(...x.times) * 1000,
    max: Math.max(...x.times) * 1000,
    cpu: (x.user + x.system) * 1000,
  }));
}

/** Children's CPU so far (utime + stime of waited-for children, /proc/self/stat fields 16-17). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // fields 16, 17 in clock ticks (USER_HZ 100)
}

function bySelf(cases: Case[], runs: number, env: NodeJS.ProcessEnv): Row[] {
  return cases.map((c) => {
    const run = () => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.argv[0]!, c.argv.slice(1), { env, stdio: 'ignore' });
      if (r.status !== (c.exit ?? 0)) throw new Error(`${c.name} exited with ${r.status}, not ${c.exit ?? 0}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    (run(), run());
    const cpu0 = childrenCpuMs();
    const times = Array.from({ length: runs }, run);
    return { name: c.name, median: median(times), min: Math.min(...times), max: Math.max(...times), cpu: (childrenCpuMs() - cpu0) / runs };
  });
}

/** Waits until the daemon's socket accepts a connection. */
async function socketAnswers(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const ok = await new Promise<boolean>((res) => {
        const s = connect(path, () => (s.destroy(), res(true)));
        s.once('error', () => res(false));
      });
      if (ok) return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the user daemon did not answer on ${path} within ${timeoutMs} ms`);
}

const args = parseArgs(process.argv.slice(2));
const dir = mkdtempSync(join(tmpdir(), 'tp-cli-start-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  TP_RUNTIME_DIR: join(dir, 'run'),
  TP_ROOT_RUNTIME_DIR: join(dir, 'root-run'),
  TP_LOG_DIR: join(dir, 'logs'),
  TP_CONFIG: join(dir, 'config.yml'),
};
delete env.NODE_OPTIONS; // the user's preloads would be measured too
const node = process.execPath;
const tp = (...a: string[]) => [node, '--', args.tp, ...a];
const useHyperfine = !args.self && hyperfineInstalled();
const measure = (cases: Case[]) => (useHyperfine ? byHyperfine(cases, args.runs, env, dir) : bySelf(cases, args.runs, env));

let daemon: ReturnType<typeof spawn> | undefined;
const rows: Row[] = [];
try {
  const withoutExtraCa = (name: string, argv: string[]): Case[] =>
    env.NODE_EXTRA_CA_CERTS ? [{ name: `${name}, no NODE_EXTRA_CA_CERTS`, argv: ['env', '-u', 'NODE_EXTRA_CA_CERTS', ...argv] }] : [];
  rows.push(
    ...measure([
      { name: 'node -e 0', argv: [node, '-e', '0'] },
      { name: 'tp --version', argv: tp('--version') },
      { name: 'tp version (no daemon)', argv: tp('version') },
      { name: 'tp status (no daemon)', argv: tp('status') },
      ...withoutExtraCa('node -e 0', [node, '-e', '0']),
      ...withoutExtraCa('tp version (no daemon)', tp('version')),
    ]),
  );
  rows.push(
    ...measure([
      { name: 'tp intercept web -p 8080 (CLI part)', argv: tp('intercept', 'web', '-p', '8080'), exit: 1 },
      { name: 'tp leave web (CLI part)', argv: tp('leave', 'web'), exit: 1 },
    ]),
  );
  daemon = spawn(node, [join(args.tp, '..', '..', 'user', 'main.js')], { env, stdio: 'ignore' });
  await socketAnswers(join(env.TP_RUNTIME_DIR!, 'user-daemon.sock'), 15_000);
  rows.push(
    ...measure([
      { name: 'tp status (daemon running)', argv: tp('status') },
      { name: 'tp version (daemon running)', argv: tp('version') },
    ]),
  );
} finally {
  daemon?.kill('SIGTERM');
  if (daemon && daemon.exitCode === null) await new Promise((r) => daemon!.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

const floor = rows[0]!.median;
const f1 = (n: number) => n.toFixed(1);
console.log(
  `CLI start-up, ${args.runs} runs each after 2 warm-ups, timed by ${useHyperfine ? 'hyperfine -N' : 'this script'}; Node ${process.versions.node}; ${args.tp}`,
);
console.log('| command | median ms | min | max | CPU ms (user+sys) | median − node -e 0 |');
console.log('|---|---|---|---|---|---|');
const signed = (n: number) => (n >= 0 ? `+${f1(n)}` : `−${f1(-n)}`);
for (const r of rows)
  console.log(
    `| ${r.name} | ${f1(r.median)} | ${f1(r.min)} | ${f1(r.max)} | ${f1(r.cpu)} | ${r === rows[0] ? '—' : signed(r.median - floor)} |`,
  );
if (args.json) {
  const by = (name: string) => rows.find((r) => r.name === name)!;
  console.log(
    JSON.stringify({
      cli_start_ms: by('tp version (no daemon)').median,
      cli_version_flag_ms: by('tp --version').median,
      cli_status_ms: by('tp status (daemon running)').median,
      cli_status_no_daemon_ms: by('tp status (no daemon)').median,
      node_floor_ms: floor,
    }),
  );
}
