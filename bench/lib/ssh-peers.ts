// bench/vif's ssh peers: `ssh -L` and sshuttle (Debian openssh-server, sshuttle) between the
// bench's two namespaces, beside dante and tp in the same run, with the same client and sink.
//
//   namespace A (client)                                   namespace B (server)
//   client ─▶ 127.0.0.1:SSH_L_PORT ─ ssh -N -L ══ssh══▶ sshd on SSHD_HOST:SSHD_PORT ─▶ sink 10.200.0.2
//   client ─▶ 10.200.0.2 ─ iptables nat REDIRECT ─▶ sshuttle ══ssh══▶ sshd ─▶ python3 ─▶ sink
//
// Everything the peers need is made for the run in one temp dir: a throwaway host key, a client key
// and the authorized_keys holding it, sshd_config, known_hosts. The host's ~/.ssh and /etc/ssh are
// never read or written (ssh -F /dev/null, sshd -f <dir>/sshd_config), sshd runs with -D in B and
// listens only on SSHD_HOST, an address the bench gave B; it gets its privilege-separation
// directory from a tmpfs over /run in a mount namespace of its own, so /run on the host is not
// touched either. sshd is on an address of its own so that sshuttle can route the sink's whole
// address over ssh without catching its own connection to sshd.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netns } from '../../test/net/helpers/netns.js';

export const SSHD_HOST = '10.201.0.2';
export const SSHD_CLIENT_HOST = '10.201.0.1';
const SSHD_PORT = 2222;
/** `ssh -L`'s listening port in A. */
export const SSH_L_PORT = 19009;
const SSHUTTLE_PORT = 12300;
const SSHD = '/usr/sbin/sshd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SshPeers {
  /** Why a peer is missing, when one is (the package is not installed). */
  readonly missing: string[];
  /** Which peers can run. */
  readonly has: { forward: boolean; sshuttle: boolean };
  /** `ssh -N -L 127.0.0.1:SSH_L_PORT:host:port` in A, running until the callback settles. */
  withForward<T>(host: string, port: number, use: () => Promise<T>): Promise<T>;
  /** sshuttle --method nat routing `subnet` over ssh in A, running until the callback settles;
   * then stopped and A's nat table checked for leftovers (throws when any remain). */
  withSshuttle<T>(subnet: string, use: () => Promise<T>): Promise<T>;
  /** Stops sshd and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

async function waitListening(ns: Netns, port: number, what: string, child?: ChildProcess, log?: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await ns.run('ss', ['-Hltn', `sport = :${port}`]);
    if (stdout.trim() !== '') return;
    if (child && (child.exitCode !== null || child.signalCode !== null)) break;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on ${port} within 10 s${log ? `: ${log().trim().slice(-600)}` : ''}`);
}

/** Ends a child with SIGTERM (SIGKILL after 5 s) and waits for it. */
async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = once(c, 'exit');
  c.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])) === false) {
    c.kill('SIGKILL');
    await exited;
  }
}

async function keygen(path: string): Promise<void> {
  const c = spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tp-bench', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => (err += d));
  const [code] = (await once(c, 'exit')) as [number];
  if (code !== 0) throw new Error(`ssh-keygen ${path}: ${err}`);
}

/** The nat and filter rules in A: what sshuttle adds and must take away again. */
async function iptablesDump(a: Netns): Promise<string> {
  const dumps = await Promise.all(
    ['iptables-save', 'ip6tables-save'].map((cmd) =>
      a.run(cmd, []).then(
        (r) => r.stdout,
        () => '',
      ),
    ),
  );
  return dumps.join('\n');
}

/**
 * sshd in `b` on SSHD_HOST (which must be up in b and reachable from a), keys for the run.
 * Peers whose binaries are missing are listed in `missing` and their methods throw.
 */
export async function startSshPeers(a: Netns, b: Netns): Promise<SshPeers> {
  const missing: string[] = [];
  if (!existsSync(SSHD)) missing.push('ssh -L and sshuttle: sshd is missing (apt-get install openssh-server)');
  const sshuttle = ['/usr/bin/sshuttle', '/usr/sbin/sshuttle'].find((p) => existsSync(p));
  if (!sshuttle) missing.push('sshuttle: not installed (apt-get install sshuttle)');
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-ssh-'));
  let sshd: ChildProcess | undefined;
  let sshdLog = '';
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (sshd) await stopChild(sshd);
    rmSync(dir, { recursive: true, force: true });
  };
  const hostKey = join(dir, 'host_key');
  const clientKey = join(dir, 'client_key');
  const known = join(dir, 'known_hosts');
  // One ssh command line for both peers: nothing from ~/.ssh or /etc/ssh/ssh_config.
  const sshArgs = [
    '-F',
    '/dev/null',
    '-i',
    clientKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${known}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'UpdateHostKeys=no',
    '-p',
    String(SSHD_PORT),
  ];
  try {
    if (!existsSync(SSHD)) {
      return {
        missing,
        has: { forward: false, sshuttle: false },
        withForward: () => Promise.reject(new Error(missing[0])),
        withSshuttle: () => Promise.reject(new Error(missing[0])),
        stop,
      };
    }
    await keygen(hostKey);
    await keygen(clientKey);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
    writeFileSync(known, `[${SSHD_HOST}]:${SSHD_PORT} ${readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    const conf = join(dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        `ListenAddress ${SSHD_HOST}:${SSHD_PORT}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // the temp dir sits in /tmp (mode 1777), which StrictModes refuses as a parent of the keys
        'StrictModes no',
        'AllowTcpForwarding yes',
        'PermitTTY no',
        'X11Forwarding no',
        'PrintMotd no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    // sshd insists on an empty root-owned /run/sshd (its privilege-separation chroot): a tmpfs over
    // /run, private to sshd's own mount namespace, provides one.
    sshd = b.spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs -o mode=0755 tp-bench-sshd /run && mkdir -m 0755 /run/sshd && exec ${SSHD} -D -e -f "$1"`,
        'sh',
        conf,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    sshd.stderr!.on('data', (d: Buffer) => (sshdLog = (sshdLog + d.toString()).slice(-4000)));
    await waitListening(b, SSHD_PORT, 'sshd', sshd, () => sshdLog);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    missing,
    has: { forward: true, sshuttle: sshuttle !== undefined },
    async withForward(host, port, use) {
      if (stopped) throw new Error('ssh peers stopped');
      let log = '';
      const fwd = a.spawn(
        'ssh',
        [...sshArgs, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${SSH_L_PORT}:${host}:${port}`, `root@${SSHD_HOST}`],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      fwd.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
      try {
        await waitListening(a, SSH_L_PORT, 'ssh -L', fwd, () => log);
        return await use();
      } finally {
        await stopChild(fwd);
      }
    },
    async withSshuttle(subnet, use) {
      if (stopped) throw new Error('ssh peers stopped');
      if (!sshuttle) throw new Error(missing.at(-1));
      const before = await iptablesDump(a);
      let log = '';
      // As root sshuttle runs its firewall helper itself (no sudo); the helper adds the nat rules
      // and removes them when the client's pipe to it closes.
      const c = a.spawn(
        sshuttle,
        [
          '--method',
          'nat',
          '--listen',
          `127.0.0.1:${SSHUTTLE_PORT}`,
          '--ssh-cmd',
          ['ssh', ...sshArgs].join(' '),
          '-r',
          `root@${SSHD_HOST}`,
          subnet,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const onData = (d: Buffer) => (log = (log + d.toString()).slice(-4000));
      c.stdout!.on('data', onData);
      c.stderr!.on('data', onData);
      try {
        // "c : Connected to server." is printed once the tunnel and the rules are in place.
        for (let i = 0; !/Connected to server/.test(log); i++) {
          if (c.exitCode !== null || c.signalCode !== null) throw new Error(`sshuttle exited: ${log.trim().slice(-600)}`);
          if (i >= 200) throw new Error(`sshuttle did not connect within 20 s: ${log.trim().slice(-600)}`);
          await sleep(100);
        }
        return await use();
      } finally {
        await stopChild(c);
        // The firewall helper restores the rules as it exits; give it a moment, then insist.
        let after = await iptablesDump(a);
        for (let i = 0; i < 50 && /sshuttle/.test(after); i++) {
          await sleep(100);
          after = await iptablesDump(a);
        }
        // Rules and user chains (":name - [n:m]"); a built-in chain appears with its policy as soon
        // as its table has been used, which leaves nothing behind.
        const strip = (s: string) =>
          s
            .split('\n')
            .filter((l) => l.startsWith('-A') || /^:\S+ - /.test(l))
            .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
            .sort()
            .join('\n');
        if (strip(after) !== strip(before)) throw new Error(`sshuttle left iptables rules in ${a.name}:\n${after}`);
      }
    },
    stop,
  };
}
