import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../../../lib/common/log.js';
import { classifyFailure, EXIT, type Iptables } from '../../../../lib/agent/init/iptables.js';
import { podNamespace, runAgentInit } from '../../../../lib/agent/init/run.js';
import { parseNatSave } from '../../../../lib/agent/init/rules.js';
import { FakeNat } from './fake-iptables.js';

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function capture(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const make = (base: Record<string, unknown>): Logger => ({
    level: 'trace',
    trace: (msg, f) => lines.push({ level: 'trace', msg, fields: { ...base, ...f } }),
    debug: (msg, f) => lines.push({ level: 'debug', msg, fields: { ...base, ...f } }),
    info: (msg, f) => lines.push({ level: 'info', msg, fields: { ...base, ...f } }),
    warn: (msg, f) => lines.push({ level: 'warn', msg, fields: { ...base, ...f } }),
    error: (msg, f) => lines.push({ level: 'error', msg, fields: { ...base, ...f } }),
    child: (f) => make({ ...base, ...f }),
  });
  return Object.assign(make({}), { lines });
}

const CONFIG = {
  version: 1,
  ports: [
    { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' },
    { containerPort: 5353, protocol: 'UDP', agentPort: 9901 },
  ],
};
const env = (extra: Record<string, string> = {}) => ({ TP_AGENT_CONFIG: JSON.stringify(CONFIG), ...extra });
const NO_NS = '/nonexistent/namespace';

function failing(err: Error): Iptables {
  return { saveNat: () => Promise.reject(err), restore: () => Promise.reject(err) };
}

test('apply: config from env, one log line per step, one restore, exit 0', async (t) => {
  const nat = new FakeNat();
  const log = capture();
  t.is(await runAgentInit({ argv: [], env: env(), log, iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
  t.deepEqual(
    log.lines.map((l) => l.fields['step']),
    ['config', 'read-state', 'apply', 'verify'],
  );
  t.deepEqual(log.lines[0]!.fields['ports'], ['8080/TCP->9900', '5353/UDP->9901']);
  t.is(nat.restores.length, 1);
  t.is(parseNatSave(nat.save()).chainRules.length, 2);
});

test('apply twice: the second run adds no hook', async (t) => {
  const nat = new FakeNat();
  await runAgentInit({ argv: [], env: env(), log: capture(), iptables: nat, namespaceFile: NO_NS });
  const log = capture();
  t.is(await runAgentInit({ argv: [], env: env(), log, iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
  t.false(nat.restores[1]!.includes('PREROUTING'));
  t.is(log.lines.find((l) => l.fields['step'] === 'apply')!.fields['hookAdded'], false);
  t.is(parseNatSave(nat.save()).hooks, 1);
});

test('--config FILE wins over the env', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-agent-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ version: 1, ports: [{ containerPort: 80, protocol: 'TCP', agentPort: 9999 }] }));
  const nat = new FakeNat();
  const log = capture();
  t.is(await runAgentInit({ argv: ['--config', file], env: env(), log, iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
  t.is(log.lines[0]!.fields['source'], `file ${file}`);
  t.regex(nat.save(), /--dport 80 .*--to-ports 9999/);
});

test('no config: exit 2 with one sentence that says how to pass one; iptables untouched', async (t) => {
  const nat = new FakeNat();
  const log = capture();
  t.is(await runAgentInit({ argv: [], env: {}, log, iptables: nat, namespaceFile: NO_NS }), EXIT.badConfig);
  t.is(log.lines.length, 1);
  t.is(log.lines[0]!.msg, 'tp-agent-init has no config: set env TP_AGENT_CONFIG or pass --config FILE.');
  t.is(nat.saves + nat.restores.length, 0);
});

test('invalid config: exit 2, the first problem in the sentence, all of them in details', async (t) => {
  const log = capture();
  const bad = {
    version: 1,
    ports: [
      { containerPort: 8080, protocol: 'TCP', agentPort: 8080 },
      { containerPort: 0, protocol: 'TCP', agentPort: 1 },
    ],
  };
  t.is(
    await runAgentInit({ argv: [], env: { TP_AGENT_CONFIG: JSON.stringify(bad) }, log, iptables: new FakeNat(), namespaceFile: NO_NS }),
    EXIT.badConfig,
  );
  t.is(
    log.lines[0]!.msg,
    'The agent config from env TP_AGENT_CONFIG is invalid: ports[1].containerPort must be an integer from 1 to 65535, got 0 (and 1 more problem).',
  );
  t.is((log.lines[0]!.fields['details'] as string[]).length, 2);
  t.is(log.lines[0]!.fields['code'], 'E_AGENT_INIT_CONFIG');
});

test('a missing config file and an unknown flag are exit 2', async (t) => {
  t.is(
    await runAgentInit({
      argv: ['--config', '/nonexistent/c.json'],
      env: {},
      log: capture(),
      iptables: new FakeNat(),
      namespaceFile: NO_NS,
    }),
    EXIT.badConfig,
  );
  const log = capture();
  t.is(await runAgentInit({ argv: ['--bogus'], env: env(), log, iptables: new FakeNat(), namespaceFile: NO_NS }), EXIT.badConfig);
  t.regex(log.lines[0]!.msg, /^tp-agent-init was called wrongly: unknown option '--bogus'/);
  t.is(
    await runAgentInit({ argv: ['--check', '--remove'], env: env(), log: capture(), iptables: new FakeNat(), namespaceFile: NO_NS }),
    EXIT.badConfig,
  );
});

test('no NET_ADMIN: exit 4, the sentence names the namespace, and goes to the termination log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-agent-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const termination = join(dir, 'termination-log');
  writeFileSync(termination, '');
  const err = classifyFailure(
    'iptables-save',
    {
      exitCode: 4,
      stderr: 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n',
    },
    'shop',
  );
  const log = capture();
  t.is(
    await runAgentInit({ argv: [], env: env(), log, iptables: failing(err), terminationLog: termination, namespaceFile: NO_NS }),
    EXIT.noNetAdmin,
  );
  const sentence = 'tp-agent-init needs the NET_ADMIN capability: the pod security policy/admission of namespace shop may strip it.';
  t.is(log.lines.at(-1)!.msg, sentence);
  t.is(readFileSync(termination, 'utf8'), sentence + '\n');
});

test('the namespace comes from TP_POD_NAMESPACE, else the service account file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-agent-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const nsFile = join(dir, 'namespace');
  writeFileSync(nsFile, 'from-sa\n');
  const denied = failing(classifyFailure('iptables-save', { exitCode: 4, stderr: 'Permission denied (you must be root)' }, undefined));
  t.is(podNamespace({ TP_POD_NAMESPACE: 'from-env' }, nsFile), 'from-env');
  t.is(podNamespace({}, nsFile), 'from-sa');
  t.is(podNamespace({}, NO_NS), undefined);
  const log = capture();
  t.is(await runAgentInit({ argv: [], env: env(), log, iptables: denied, namespaceFile: NO_NS }), EXIT.noNetAdmin);
  t.is(
    log.lines.at(-1)!.msg,
    "tp-agent-init needs the NET_ADMIN capability: the pod security policy/admission of the pod's namespace may strip it.",
  );
});

test('classifyFailure: missing binary is exit 3, permission is exit 4, anything else exit 1 with iptables own words', (t) => {
  const missing = classifyFailure('iptables-restore', { errno: 'ENOENT', stderr: 'spawn iptables-restore ENOENT' }, 'ns');
  t.is(missing.exitCode, EXIT.noIptables);
  t.is(
    missing.message,
    'tp-agent-init cannot run iptables-restore: it is not installed in the image (it needs iptables 1.8 with the nf_tables backend).',
  );
  t.is(
    classifyFailure(
      'iptables-restore',
      {
        exitCode: 4,
        stderr: 'iptables-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)',
      },
      'ns',
    ).exitCode,
    EXIT.noNetAdmin,
  );
  const other = classifyFailure(
    'iptables-restore',
    { exitCode: 1, stderr: 'iptables-restore: line 4 failed: No chain/target/match by that name.\n' },
    'ns',
  );
  t.is(other.exitCode, EXIT.failed);
  t.is(
    other.message,
    "iptables-restore failed in the pod's network namespace: iptables-restore: line 4 failed: No chain/target/match by that name.",
  );
});

test('--check: exit 0 when in place, exit 1 naming the first problem when not', async (t) => {
  const nat = new FakeNat();
  let log = capture();
  t.is(await runAgentInit({ argv: ['--check'], env: env(), log, iptables: nat, namespaceFile: NO_NS }), EXIT.failed);
  t.is(
    log.lines.at(-1)!.msg,
    'The redirect rules of tp-agent-init are not in place: the nat chain TP_INBOUND does not exist (and 1 more problem).',
  );
  await runAgentInit({ argv: [], env: env(), log: capture(), iptables: nat, namespaceFile: NO_NS });
  log = capture();
  t.is(await runAgentInit({ argv: ['--check'], env: env(), log, iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
  t.is(log.lines.at(-1)!.fields['step'], 'check');
  t.is(nat.restores.length, 1);
});

test('--remove: needs no config and leaves the table as it was', async (t) => {
  const nat = new FakeNat();
  const before = nat.save();
  await runAgentInit({ argv: [], env: env(), log: capture(), iptables: nat, namespaceFile: NO_NS });
  t.is(await runAgentInit({ argv: ['--remove'], env: {}, log: capture(), iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
  t.is(nat.save(), before);
  t.is(await runAgentInit({ argv: ['--remove'], env: {}, log: capture(), iptables: nat, namespaceFile: NO_NS }), EXIT.ok);
});

test('rules that do not read back as written fail the run (exit 1)', async (t) => {
  const nat = new FakeNat();
  const deaf: Iptables = { saveNat: () => nat.saveNat(), restore: async () => {} };
  const log = capture();
  t.is(await runAgentInit({ argv: [], env: env(), log, iptables: deaf, namespaceFile: NO_NS }), EXIT.failed);
  t.regex(
    log.lines.at(-1)!.msg,
    /^The redirect rules were applied but do not read back as written: the nat chain TP_INBOUND does not exist/,
  );
});
