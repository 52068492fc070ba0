// bench/lib/ssh-peers.ts between two namespaces: the peers reach a target in the server namespace
// over ssh, and leave nothing behind — no process, no temp dir, no iptables rule (issue #14).
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { netns, type Netns } from '../helpers/netns.js';
import { testNeeding } from '../../helpers/binaries.js';
import { SSHD_CLIENT_HOST, SSHD_HOST, SSH_L_PORT, startSshPeers } from '../../../bench/lib/ssh-peers.js';

const TARGET = '10.200.0.2';
const ECHO_PORT = 7777;
const ECHO = `require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${ECHO_PORT}, process.argv[1])`;
/** Connects to argv[1]:argv[2], sends a line, prints what comes back before the server's FIN. */
const ASK = `const s = require('node:net').connect(Number(process.argv[2]), process.argv[1], () => s.end('through ssh'));
let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => process.stdout.write(got));
s.setTimeout(10000, () => { console.error('timeout'); process.exit(1); });`;

const sshTest = testNeeding(
  [
    { name: 'sshd (openssh-server)', path: '/usr/sbin/sshd' },
    { name: 'sshuttle', path: '/usr/bin/sshuttle' },
  ],
  { serial: true },
);

async function pair(t: ExecutionContext): Promise<{ a: Netns; b: Netns }> {
  const a = await netns(t);
  const b = await netns(t);
  await a.run('ip', ['link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', b.name]);
  await a.run('ip', ['addr', 'add', '10.200.0.1/24', 'dev', 'vA']);
  await a.run('ip', ['addr', 'add', `${SSHD_CLIENT_HOST}/24`, 'dev', 'vA']);
  await a.run('ip', ['link', 'set', 'vA', 'up']);
  await b.run('ip', ['addr', 'add', `${TARGET}/24`, 'dev', 'vB']);
  await b.run('ip', ['addr', 'add', `${SSHD_HOST}/24`, 'dev', 'vB']);
  await b.run('ip', ['link', 'set', 'vB', 'up']);
  b.spawn(process.execPath, ['-e', ECHO, TARGET], { stdio: 'ignore' });
  for (let i = 0; i < 50 && (await b.run('ss', ['-Hltn', `sport = :${ECHO_PORT}`])).stdout.trim() === ''; i++)
    await new Promise((r) => setTimeout(r, 100));
  return { a, b };
}

const sshDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('tp-bench-ssh-'));
/** What runs in a namespace, asked from outside it (inside, `ip` would list itself). */
const nsPids = (ns: Netns) => execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' });

sshTest('#14: ssh -L reaches a target in the server namespace; stop() ends sshd and removes the temp dir', async (t) => {
  const { a, b } = await pair(t);
  const dirsBefore = new Set(sshDirs());
  const peers = await startSshPeers(a, b);
  t.deepEqual(peers.has, { forward: true, sshuttle: true });
  const got = await peers.withForward(
    TARGET,
    ECHO_PORT,
    async () => (await a.run(process.execPath, ['-e', ASK, '127.0.0.1', String(SSH_L_PORT)])).stdout,
  );
  t.is(got, 'through ssh');
  t.is((await a.run('ss', ['-Hltn', `sport = :${SSH_L_PORT}`])).stdout.trim(), '', 'ssh -L ended with its callback');
  await peers.stop();
  t.deepEqual(
    sshDirs().filter((d) => !dirsBefore.has(d)),
    [],
  );
  const sshdLeft = (await b.run('ss', ['-Hltn', `sport = :2222`])).stdout.trim();
  t.is(sshdLeft, '', 'sshd no longer listens');
  t.notRegex(nsPids(a), /\d/, 'nothing left running in the client namespace');
});

sshTest('#14: sshuttle (nat) carries a flow to the routed address over ssh and leaves no iptables rule when it exits', async (t) => {
  const { a, b } = await pair(t);
  const peers = await startSshPeers(a, b);
  t.teardown(() => peers.stop());
  // While sshuttle runs, A's nat table redirects the target's address to sshuttle's listener.
  const during = await peers.withSshuttle(`${TARGET}/32`, async () => ({
    reply: (await a.run(process.execPath, ['-e', ASK, TARGET, String(ECHO_PORT)])).stdout,
    rules: (await a.run('iptables-save', ['-t', 'nat'])).stdout,
  }));
  t.is(during.reply, 'through ssh');
  t.regex(during.rules, new RegExp(`-A \\S*sshuttle\\S* -d ${TARGET.replaceAll('.', '\\.')}/32 .*REDIRECT`));
  const after = (await a.run('iptables-save', [])).stdout;
  t.notRegex(after, /sshuttle|REDIRECT/);
  t.notRegex(nsPids(a), /\d/, 'sshuttle, its firewall helper and ssh have exited');
});
