// #14 (CLI start-up): the command tree imports no action; each action module is imported when its
// command runs. These tests run the built tp as a user would (a child `node -- ENTRY`, in a
// runtime, log and config directory of their own) through both entries: main.cjs, the installed
// `tp`, which runs the one-file bundle (built here first, with the package's own build:cli, so it
// is never older than these sources), and main.js, the same modules unbundled. They load every
// action module, so a lazily imported module that is missing or fails to load fails here rather
// than in a user's hands.
import test from 'ava';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { actionLoader } from '../../../lib/cli/lazy.js';
import { DaemonCallError } from '../../../lib/common/rpc/daemon.js';
import { unixServe } from '../../../lib/common/rpc/unix-http.js';
import { allCommands, buildProgram } from '../../../lib/cli/program.js';
import { TP_VERSION } from '../../../lib/common/version.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const ENTRIES = {
  bundle: fileURLToPath(new URL('../../../lib/cli/main.cjs', import.meta.url)),
  modules: fileURLToPath(new URL('../../../lib/cli/main.js', import.meta.url)),
} as const;
type Entry = keyof typeof ENTRIES;
const USER_DAEMON = fileURLToPath(new URL('../../../lib/user/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tp-lazy-test-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  TP_RUNTIME_DIR: join(dir, 'run'),
  TP_ROOT_RUNTIME_DIR: join(dir, 'root-run'),
  TP_LOG_DIR: join(dir, 'logs'),
  TP_CONFIG: join(dir, 'config.yml'),
  NODE_OPTIONS: '',
};

test.before(() => {
  execFileSync('npm', ['run', '--silent', 'build:cli'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function tp(entry: Entry, args: string[], nodeFlags: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [...nodeFlags, '--', ENTRIES[entry], ...args], { env, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const NO_DAEMON_VERSION = [
  `Client:          v${TP_VERSION}`,
  'User daemon:     not running',
  'Root daemon:     not running',
  'Traffic manager: not connected',
  'Agent image:     not connected',
  '',
].join('\n');
const NO_DAEMON_VERSION_DATA = {
  client: TP_VERSION,
  userDaemon: null,
  rootDaemon: null,
  trafficManager: null,
  managerImage: null,
  agentImage: null,
};

for (const entry of ['bundle', 'modules'] as const) {
  test.serial(`#14: tp version with no daemon prints what it printed before the split, as text, JSON and YAML (${entry})`, async (t) => {
    const text = await tp(entry, ['version']);
    t.is(text.code, 0, text.stderr);
    t.is(text.stdout, NO_DAEMON_VERSION);
    const json = await tp(entry, ['version', '-o', 'json']);
    t.deepEqual(JSON.parse(json.stdout), NO_DAEMON_VERSION_DATA);
    const yaml = await tp(entry, ['-o', 'yaml', 'version']);
    t.deepEqual(parseYaml(yaml.stdout), NO_DAEMON_VERSION_DATA);
    const flag = await tp(entry, ['--version']);
    t.is(flag.code, 0);
    t.is(flag.stdout, `${TP_VERSION}\n`);
  });
}

for (const entry of ['bundle', 'modules'] as const)
  test.serial(`#14: tp --help and the --help of every command of the tree exit 0 and print that command's usage (${entry})`, async (t) => {
    const program = buildProgram();
    const paths = allCommands(program).map((c) => {
      const names: string[] = [];
      for (let x: typeof c | null = c; x && x !== program; x = x.parent) names.unshift(x.name());
      return names;
    });
    t.true(paths.length > 20, `${paths.length} commands`);
    const failed: string[] = [];
    // Two at a time: the machine has two cores.
    for (let i = 0; i < paths.length; i += 2) {
      await Promise.all(
        paths.slice(i, i + 2).map(async (p) => {
          const r = await tp(entry, [...p, '--help']);
          if (r.code !== 0 || !r.stdout.startsWith(`Usage: tp${p.length ? ' ' + p.join(' ') : ''} `))
            failed.push(`tp ${p.join(' ')} --help: exit ${r.code}: ${r.stderr || r.stdout.slice(0, 80)}`);
        }),
      );
    }
    t.deepEqual(failed, []);
  });

test.serial('#14: every command that runs something has a lazy action whose module loads and gives a function', async (t) => {
  const program = buildProgram();
  const leaves = allCommands(program).filter((c) => c !== program && c.commands.length === 0);
  const groups = allCommands(program).filter((c) => c.commands.length > 0);
  for (const c of leaves) {
    const load = actionLoader(c);
    if (!load) {
      t.fail(`tp ${c.name()} has no lazy action`);
      continue;
    }
    t.is(typeof (await load()), 'function', `tp ${c.parent === program ? '' : `${c.parent?.name()} `}${c.name()}`);
  }
  for (const g of groups) t.is(actionLoader(g), undefined, `${g.name()} is a group`);
});

/** What a tp run loaded: ES modules (a module.register hook, Node >= 20.6) and CommonJS files
 * (require.cache at exit, which also holds ES modules loaded through require). */
async function loadsOf(entry: Entry, args: string[]): Promise<{ code: number; stderr: string; esm: string[]; cjs: string[] }> {
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function load(url, context, next) { process.stderr.write('ESM ' + url + '\\n'); return next(url, context); }\n`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify('file://' + hooks)});\n`);
  const atExit = join(dir, 'at-exit.cjs');
  writeFileSync(
    atExit,
    `process.on('exit', () => { for (const k of Object.keys(require.cache)) process.stderr.write('CJS ' + k + '\\n'); });\n`,
  );
  const r = await tp(entry, args, ['--require', atExit, '--import', register]);
  const lines = (p: string) =>
    r.stderr
      .split('\n')
      .filter((l) => l.startsWith(p))
      .map((l) => l.slice(p.length));
  return { code: r.code, stderr: r.stderr, esm: lines('ESM ').filter((u) => !u.startsWith('node:')), cjs: lines('CJS ') };
}

const HEAVY = /node_modules\/(@kubernetes\/client-node|yaml)\/|\/lib\/helm\//;

// What a warm `tp intercept` and `tp leave` load before they ask the daemon (none runs here: they
// stop at "not connected", exit 1); with no config file there is no YAML to parse.
const LIGHT_RUNS: Array<[string[], number]> = [
  [['version'], 0],
  [['status'], 0],
  [['--version'], 0],
  [['leave', 'web'], 1],
  [['intercept', 'web', '-p', '8080'], 1],
];

test.serial(
  '#14: the bundle runs tp version, status, --version, leave and intercept from one file: no ES module, no client-node, no yaml',
  async (t) => {
    for (const [args, code] of LIGHT_RUNS) {
      const r = await loadsOf('bundle', args);
      t.is(r.code, code, r.stderr);
      t.true(
        r.cjs.some((f) => f.endsWith('/dist/lib/cli/tp.cjs')),
        `tp ${args.join(' ')}: the bundle ran`,
      );
      t.deepEqual(
        r.esm.filter((u) => !u.endsWith('/hooks.mjs') && !u.endsWith('/register.mjs') && !u.endsWith('/dist/lib/cli/main.cjs')),
        [],
        `tp ${args.join(' ')}: no ES module (main.js is the fallback)`,
      );
      t.deepEqual(
        r.cjs.filter((f) => HEAVY.test(f)),
        [],
        `tp ${args.join(' ')}`,
      );
    }
  },
);

test.serial(
  '#14: unbundled, tp version, status, --version, leave and intercept load neither client-node, yaml, the chart engine nor an action they do not run',
  async (t) => {
    for (const [args, code] of LIGHT_RUNS) {
      const r = await loadsOf('modules', args);
      t.is(r.code, code, r.stderr);
      t.true(
        r.esm.some((u) => u.endsWith('/lib/cli/program.js')),
        'the hook saw the tree load',
      );
      const heavy = [...r.esm, ...r.cjs].filter((u) => HEAVY.test(u) || /\/lib\/cli\/actions\/(?!simple|status|engage)/.test(u));
      t.deepEqual(heavy, [], `tp ${args.join(' ')}`);
    }
  },
);

for (const entry of ['bundle', 'modules'] as const) {
  test.serial(
    `#14: actions that need no cluster run to the end; helm and gather-logs load client-node and word a missing kubeconfig (${entry})`,
    async (t) => {
      const completion = await tp(entry, ['completion', 'bash']);
      t.is(completion.code, 0, completion.stderr);
      t.true(completion.stdout.includes('complete -o default -F _tp_complete tp'));
      const config = await tp(entry, ['config', 'view', '-o', 'yaml']);
      t.is(config.code, 0, config.stderr);
      t.like(parseYaml(config.stdout) as object, { path: env.TP_CONFIG, exists: false });
      // gather-logs with a kubeconfig that does not exist: the cluster part (client-node) loads and
      // says why it has no pod logs; the archive is written all the same.
      const file = join(dir, `logs-${entry}.tar.gz`);
      const logs = await tp(entry, ['gather-logs', '-f', file, '--kubeconfig', join(dir, 'no-kubeconfig'), '-o', 'json']);
      t.is(logs.code, 0, logs.stderr);
      t.true(existsSync(file));
      t.regex(
        (JSON.parse(logs.stdout) as { notes: string[] }).notes.join('\n'),
        /no pod logs: the kubeconfig .*no-kubeconfig does not exist/,
      );
      // tp helm install: client-node and the chart engine load; the missing kubeconfig is a sentence (exit 1), not a bug (3).
      const helm = await tp(entry, ['helm', 'install', '--kubeconfig', join(dir, 'no-kubeconfig')]);
      t.is(helm.code, 1, helm.stderr);
      t.regex(helm.stderr, /^tp: the kubeconfig .*no-kubeconfig does not exist/);
      // An engagement with no daemon stops at "not connected" after its flags were parsed.
      const intercept = await tp(entry, ['intercept', 'web', '--port', '8080', '--http-header', 'x-dev=~alice(-.*)?']);
      t.is(intercept.code, 1);
      t.is(intercept.stderr, 'tp: tp is not connected to a cluster; run `tp connect` first.\n');
    },
  );
}

async function socketAnswers(path: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const ok = await new Promise<boolean>((res) => {
        const s = connect(path, () => (s.destroy(), res(true)));
        s.once('error', () => res(false));
      });
      if (ok) return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test.serial('#14: with a user daemon running, tp status shows it running and tp version its version (both entries)', async (t) => {
  let daemon: ChildProcess | undefined;
  try {
    daemon = spawn(process.execPath, [USER_DAEMON], { env, stdio: 'ignore' });
    t.true(await socketAnswers(join(env.TP_RUNTIME_DIR!, 'user-daemon.sock'), 20_000), 'the user daemon answers');
    for (const entry of ['bundle', 'modules'] as const) {
      const s = await tp(entry, ['status']);
      t.is(s.code, 0, s.stderr);
      t.regex(
        s.stdout,
        new RegExp(`^User daemon: +running \\(pid ${daemon.pid}, v${TP_VERSION.replaceAll('.', '\\.')}\\)\nConnection: +disconnected\n`),
      );
      const json = JSON.parse((await tp(entry, ['status', '-o', 'json'])).stdout) as {
        userDaemon: string;
        state: string;
        daemonPid: number;
      };
      t.like(json, { userDaemon: 'running', state: 'disconnected', daemonPid: daemon.pid });
      const v = await tp(entry, ['version', '-o', 'json']);
      t.like(JSON.parse(v.stdout), { client: TP_VERSION, userDaemon: TP_VERSION, rootDaemon: null });
      // A daemon's own error still reaches the user as its sentence (exit 2 for a bad flag value).
      const bad = await tp(entry, ['loglevel', 'loud']);
      t.is(bad.code, 2);
      t.is(bad.stderr, 'tp: "loud" is not a log level; use one of trace, debug, info, warn, error.\n');
    }
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
  }
});

test.serial('#14: tp version shows the version a root daemon answers on its socket, with no user daemon (both entries)', async (t) => {
  // The root daemon's seam server (unixServe), answering status as the root daemon does; the real
  // one needs root and a TUN device (test/net/root).
  const path = join(env.TP_ROOT_RUNTIME_DIR!, 'root-daemon.sock');
  const server = await unixServe(
    path,
    async (method) => {
      if (method !== 'status') throw new DaemonCallError('E_UNKNOWN_CALL', `no call ${method}`);
      return {
        version: '9.8.7',
        pid: process.pid,
        interface: '',
        routes: [],
        neverProxy: [],
        flows: { tcpActive: 0, tcpTotal: 0, udpActive: 0, dialFailures: 0 },
      };
    },
    () => {},
  );
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  for (const entry of ['bundle', 'modules'] as const) {
    const text = await tp(entry, ['version']);
    t.is(text.code, 0, text.stderr);
    t.true(text.stdout.includes('\nRoot daemon:     v9.8.7\n'), text.stdout);
    t.like(JSON.parse((await tp(entry, ['version', '-o', 'json'])).stdout), { userDaemon: null, rootDaemon: '9.8.7' });
  }
});
