// #14 (CLI start-up): the command tree imports no action; each action module is imported when its
// command runs. These tests run the built tp as a user would (a child `node -- main.js`, in a
// runtime, log and config directory of their own) and load every action module, so a lazily
// imported module that is missing or fails to load fails here rather than in a user's hands.
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { actionLoader } from '../../../lib/cli/lazy.js';
import { allCommands, buildProgram } from '../../../lib/cli/program.js';
import { TP_VERSION } from '../../../lib/common/version.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../../lib/cli/main.js', import.meta.url));
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

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function tp(args: string[], nodeFlags: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [...nodeFlags, '--', MAIN, ...args], { env, timeout: 60_000 });
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
const NO_DAEMON_VERSION_DATA = { client: TP_VERSION, userDaemon: null, rootDaemon: null, trafficManager: null, managerImage: null, agentImage: null };

test.serial('#14: tp version with no daemon prints what it printed before the split, as text, JSON and YAML', async (t) => {
  const text = await tp(['version']);
  t.is(text.code, 0, text.stderr);
  t.is(text.stdout, NO_DAEMON_VERSION);
  const json = await tp(['version', '-o', 'json']);
  t.deepEqual(JSON.parse(json.stdout), NO_DAEMON_VERSION_DATA);
  const yaml = await tp(['-o', 'yaml', 'version']);
  t.deepEqual(parseYaml(yaml.stdout), NO_DAEMON_VERSION_DATA);
  const flag = await tp(['--version']);
  t.is(flag.code, 0);
  t.is(flag.stdout, `${TP_VERSION}\n`);
});

test.serial('#14: tp --help and the --help of every command of the tree exit 0 and print that command\'s usage', async (t) => {
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
    await Promise.all(paths.slice(i, i + 2).map(async (p) => {
      const r = await tp([...p, '--help']);
      if (r.code !== 0 || !r.stdout.startsWith(`Usage: tp${p.length ? ' ' + p.join(' ') : ''} `)) failed.push(`tp ${p.join(' ')} --help: exit ${r.code}: ${r.stderr || r.stdout.slice(0, 80)}`);
    }));
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

test.serial('#14: tp version and tp status load neither client-node, yaml, the chart engine nor an action they do not run', async (t) => {
  // A module hook that prints each module's URL as Node loads it (module.register, Node >= 20.6).
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(hooks, `export async function load(url, context, next) { process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }\n`);
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify('file://' + hooks)});\n`);
  for (const args of [['version'], ['status'], ['--version']]) {
    const r = await tp(args, ['--import', register]);
    t.is(r.code, 0, r.stderr);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
    t.true(loaded.some((u) => u.endsWith('/lib/cli/program.js')), 'the hook saw the tree load');
    const heavy = loaded.filter((u) => /node_modules\/(@kubernetes\/client-node|yaml)\/|\/lib\/helm\/|\/lib\/cli\/actions\/(?!simple|status)/.test(u));
    t.deepEqual(heavy, [], `tp ${args.join(' ')}`);
  }
});

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

test.serial('#14: with a user daemon running, tp status asks it once and shows it running; tp version shows its version', async (t) => {
  let daemon: ChildProcess | undefined;
  try {
    daemon = spawn(process.execPath, [USER_DAEMON], { env, stdio: 'ignore' });
    t.true(await socketAnswers(join(env.TP_RUNTIME_DIR!, 'user-daemon.sock'), 20_000), 'the user daemon answers');
    const s = await tp(['status']);
    t.is(s.code, 0, s.stderr);
    t.regex(s.stdout, new RegExp(`^User daemon: +running \\(pid ${daemon.pid}, v${TP_VERSION.replaceAll('.', '\\.')}\\)\nConnection: +disconnected\n`));
    const json = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { userDaemon: string; state: string; daemonPid: number };
    t.like(json, { userDaemon: 'running', state: 'disconnected', daemonPid: daemon.pid });
    const v = await tp(['version', '-o', 'json']);
    t.like(JSON.parse(v.stdout), { client: TP_VERSION, userDaemon: TP_VERSION, rootDaemon: null });
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
  }
});
