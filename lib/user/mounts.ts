// `--mount DIR`: the engaged container's volumes on the workstation. `sshfs -o passive` speaks SFTP
// on its own stdin/stdout instead of starting ssh; we connect those to a tunnel stream whose other
// end is the agent's sftp-server (lib/agent/sftp.ts). No ssh, no keys, no extra port: the tunnel
// already carries the session's authentication (DESIGN §6).
//
// `passive` is the option's name since sshfs 3.7, which kept the old name `slave` as an alias;
// releases before 3.7 (Ubuntu 20.04 ships 3.6) know only `slave`. We ask the installed sshfs
// (`sshfs -h` lists its options) and use `passive` wherever it is listed.
//
// The ways a mount ends, and what we do:
//   - unmount(): `fusermount -u` (lazy when busy; `umount -l` as root), sshfs exits, dir removed
//     if we made it;
//   - the stream dies (tunnel or agent gone): sshfs reads EOF and terminates itself (without
//     `reconnect`, which cannot work in passive mode); we unmount lazily what may remain;
//   - sshfs dies: the same as the stream dying.
// In every case `closed` resolves after the mount point is detached and the stream destroyed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rmdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../common/log.js';
import { TpError } from '../common/errors.js';

export type MountErrorCode =
  | 'E_SSHFS_MISSING' //   sshfs is not installed (or not at the given path)
  | 'E_MOUNT_DIR' //       the mount point is not an empty directory, or cannot be made
  | 'E_MOUNT_FAILED'; //   sshfs ran but the mount did not come up

export class MountError extends TpError {
  declare readonly code: MountErrorCode;
  constructor(code: MountErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(code, message, { hint, cause: options?.cause });
    this.name = 'MountError';
  }
}

export interface SftpMountOptions {
  /** The local mount point; made (with its parents) when missing, refused when not empty. */
  dir: string;
  /** The directory on the agent's side, as its sftp-server names it. */
  remotePath: string;
  readOnly: boolean;
  /** Opens a new stream to an sftp-server; called once, after sshfs has started. */
  open: () => Promise<Duplex>;
  log: Logger;
  /** Default `sshfs` from PATH. */
  sshfsPath?: string;
  /** How long to wait for the mount to appear (default 10 s). */
  timeoutMs?: number;
  /** The FUSE device (tests). */
  fuseDevice?: string;
}

export interface SftpMount {
  /** The mount point, absolute. */
  readonly dir: string;
  /** Detaches the mount, stops sshfs, removes the dir if mountSftp made it; idempotent. */
  unmount(): Promise<void>;
  /** Resolves once the mount is gone, by unmount() or because the stream or sshfs ended. */
  readonly closed: Promise<void>;
}

const POLL_MS = 50;
/** How long a fresh mount must stay up before it counts. */
const GRACE_MS = 300;
const STDERR_KEEP = 4096;

/** Mounts `remotePath` on `dir` over a stream from `open()`; resolves once the kernel shows it. */
export async function mountSftp(opts: SftpMountOptions): Promise<SftpMount> {
  const log = opts.log.child({ component: 'mount', dir: opts.dir });
  const sshfs = opts.sshfsPath ?? 'sshfs';
  // FUSE is a kernel module: without /dev/fuse sshfs can only fail, after a slower, vaguer start.
  if (!existsSync(opts.fuseDevice ?? '/dev/fuse')) {
    throw new MountError(
      'E_MOUNT_FAILED',
      `this machine has no ${opts.fuseDevice ?? '/dev/fuse'}, which sshfs mounts through`,
      'load the FUSE module (`sudo modprobe fuse`; in a container, pass the device in), or skip the volumes with --mount false',
    );
  }
  const made = await prepareDir(resolve(opts.dir));
  // The kernel lists the mount under the real path; /tmp may be a symlink elsewhere.
  const dir = await realpath(resolve(opts.dir));
  const removeDir = () => (made ? removeMadeDirs(dir, made, log) : Promise.resolve());

  const args = [
    `tp:${opts.remotePath}`,
    dir,
    '-f',
    '-o',
    await sshfsStdioOption(sshfs),
    // The owner of the served root shows as the local user; other owners keep their numbers.
    // Access is still decided by sftp-server on the agent: there is no default_permissions.
    '-o',
    'idmap=user',
    // Kubernetes ConfigMap and Secret volumes are symlinks into a `..data` directory: resolve
    // them on the agent, where they point somewhere that exists.
    '-o',
    'follow_symlinks',
    ...(opts.readOnly ? ['-o', 'ro'] : []),
  ];
  const child = spawn(sshfs, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((res, rej) => {
      child.once('spawn', res);
      child.once('error', rej);
    });
  } catch (err) {
    await removeDir();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES') {
      throw new MountError(
        'E_SSHFS_MISSING',
        opts.sshfsPath ? `sshfs is not installed at ${opts.sshfsPath}` : 'sshfs is not installed',
        `${sshfsInstallHint()}, or skip the volumes with --mount false`,
        { cause: err },
      );
    }
    throw new MountError('E_MOUNT_FAILED', `sshfs could not be started: ${(err as Error).message}`, undefined, { cause: err });
  }
  log.debug('sshfs started', { pid: child.pid, remotePath: opts.remotePath, readOnly: opts.readOnly });

  const exited = new Promise<void>((res) =>
    child.once('close', (code, signal) => {
      log.debug('sshfs exited', { code, signal });
      res();
    }),
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.trim()) log.debug('sshfs', { line: line.trim() });
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });

  let stream: Duplex;
  try {
    stream = await opts.open();
  } catch (err) {
    await stopChild(child, exited);
    await removeDir();
    throw err;
  }
  // pipeline: each direction stops reading its source while the destination is not writable.
  void pipeline(stream, child.stdin).catch((err) => log.debug('stream → sshfs ended', { err }));
  void pipeline(child.stdout, stream).catch((err) => log.debug('sshfs → stream ended', { err }));

  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  let failure: string | undefined;
  for (;;) {
    if (gone) {
      failure = 'sshfs exited';
      break;
    }
    if (Date.now() >= deadline) {
      failure = `no mount after ${timeoutMs} ms`;
      break;
    }
    if (await isSshfsMount(dir)) {
      // sshfs 3 mounts first and checks the remote path afterwards (then exits when it is
      // missing): only an answer through the mount shows that the agent serves the path.
      const probe = await Promise.race([
        // readdir, not stat: the kernel may answer a stat of the root from the attributes it
        // made up at mount time, but listing the root always asks the agent.
        readdir(dir).then(
          () => 'ok',
          (err: NodeJS.ErrnoException) => err.code ?? 'error',
        ),
        exited.then(() => 'exited'),
        sleep(deadline - Date.now(), { unref: true }).then(() => 'timeout'),
      ]);
      // Under load sshfs has been seen to answer the first listing and only then find the remote
      // path missing and exit: a mount that is gone a moment later is no mount.
      if (
        probe === 'ok' &&
        (await Promise.race([exited.then(() => 'exited'), sleep(GRACE_MS, { unref: true }).then(() => 'alive')])) === 'alive'
      )
        break;
      if (probe === 'ok') {
        failure = 'sshfs exited right after mounting';
        break;
      }
      // sshfs is on its way out; its last words on stderr say why.
      await Promise.race([exited, sleep(1000, { unref: true })]);
      failure = probe === 'timeout' ? `the mount did not answer within ${timeoutMs} ms` : `the mount answered ${probe}`;
      break;
    }
    await sleep(POLL_MS);
  }
  if (failure !== undefined) {
    await stopChild(child, exited);
    stream.destroy();
    if (await isSshfsMount(dir)) await fuseUnmount(dir, true, log);
    await removeDir();
    throw new MountError(
      'E_MOUNT_FAILED',
      `sshfs could not mount ${opts.remotePath} on ${dir}: ${lastLines(stderr) || failure}`,
      "check that /dev/fuse exists and that the agent serves that path; the user daemon log has sshfs's output",
    );
  }
  log.info('mounted', { remotePath: opts.remotePath, readOnly: opts.readOnly });

  let ending: Promise<void> | undefined;
  const end = (why: 'unmount' | 'exited'): Promise<void> =>
    (ending ??= (async () => {
      if (why === 'exited') log.warn('the mount ended: sshfs or its stream went away', { stderr: lastLines(stderr) || undefined });
      if (!gone) {
        // The ordinary path: detaching the mount makes sshfs exit by itself. When a process
        // holds a file open, `-u` fails with EBUSY and only a lazy unmount detaches it.
        if (!(await fuseUnmount(dir, false, log))) await fuseUnmount(dir, true, log);
        await stopChild(child, exited);
      } else if (await isSshfsMount(dir)) {
        await fuseUnmount(dir, true, log);
      }
      stream.destroy();
      await removeDir();
      log.info('unmounted');
    })());
  void exited.then(() => end('exited'));
  const closed = exited.then(() => ending!);
  return { dir, unmount: () => end('unmount'), closed };
}

/** Which name the sshfs in `help` (its `sshfs -h` output) takes for the stdin/stdout mode. */
export function stdioOptionOf(help: string): 'passive' | 'slave' {
  return /-o passive\b/.test(help) ? 'passive' : 'slave';
}

const stdioOptions = new Map<string, Promise<'passive' | 'slave'>>();

/** Asks the installed sshfs once (per path) for its option list. An sshfs that cannot be run
 * gets `passive`: the spawn that follows reports it as missing. */
export function sshfsStdioOption(sshfs: string): Promise<'passive' | 'slave'> {
  let known = stdioOptions.get(sshfs);
  if (!known) {
    known = new Promise((res) =>
      // sshfs 3 prints its help to stdout and exits 0; 2.x exits 1 after printing: read both.
      execFile(sshfs, ['-h'], { timeout: 5000 }, (err, stdout, stderr) => {
        if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return res('passive');
        res(stdioOptionOf(`${stdout}\n${stderr}`));
      }),
    );
    stdioOptions.set(sshfs, known);
  }
  return known;
}

/** How to install sshfs on this distribution (from /etc/os-release: ID, then ID_LIKE). */
export function sshfsInstallHint(osRelease?: string): string {
  let text = osRelease;
  if (text === undefined) {
    try {
      text = readFileSync('/etc/os-release', 'utf8');
    } catch {
      text = '';
    }
  }
  const field = (k: string) => new RegExp(`^${k}="?([^"\n]*)"?$`, 'm').exec(text!)?.[1] ?? '';
  const ids = `${field('ID')} ${field('ID_LIKE')}`.split(/\s+/).filter(Boolean);
  const commands: Array<[string[], string]> = [
    [['debian', 'ubuntu'], 'sudo apt-get install sshfs'],
    [['fedora', 'rhel', 'centos'], 'sudo dnf install fuse-sshfs'],
    [['arch'], 'sudo pacman -S sshfs'],
    [['opensuse', 'suse', 'sles'], 'sudo zypper install sshfs'],
    [['alpine'], 'sudo apk add sshfs'],
  ];
  for (const id of ids) for (const [names, cmd] of commands) if (names.includes(id)) return `install the sshfs package (\`${cmd}\`)`;
  return 'install sshfs (the package is sshfs, fuse-sshfs on Fedora and RHEL; Debian/Ubuntu: `apt-get install sshfs`)';
}

/** Makes `dir` if missing and returns the topmost directory made; refuses a non-empty dir. */
async function prepareDir(dir: string): Promise<string | undefined> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw dirError(dir, err);
    try {
      return (await mkdir(dir, { recursive: true })) ?? undefined;
    } catch (err2) {
      throw dirError(dir, err2);
    }
  }
  if (!st.isDirectory()) {
    throw new MountError(
      'E_MOUNT_DIR',
      `cannot mount on ${dir}: it is not a directory`,
      'name an empty directory, or one that does not exist yet',
    );
  }
  // Like Telepresence: mounting over files would hide them, and the user may not notice.
  if ((await readdir(dir)).length > 0) {
    throw new MountError(
      'E_MOUNT_DIR',
      `cannot mount on ${dir}: the directory is not empty`,
      'name an empty directory, or one that does not exist yet',
    );
  }
  return undefined;
}

function dirError(dir: string, err: unknown): MountError {
  return new MountError('E_MOUNT_DIR', `cannot make the mount point ${dir}: ${(err as Error).message}`, 'name a directory you can write', {
    cause: err,
  });
}

/** Removes `dir` and its parents up to `top`, the directories mkdir made; rmdir never removes content. */
async function removeMadeDirs(dir: string, top: string, log: Logger): Promise<void> {
  const topReal = await realpath(top).catch(() => top);
  for (let d = dir; ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch (err) {
      log.warn('could not remove the mount point', { path: d, err });
      return;
    }
    if (d === topReal || d === top || dirname(d) === d) return;
  }
}

/** Whether /proc/self/mountinfo has an sshfs mount on `dir` (proc(5): field 5 is the mount point,
 * octal-escaped; the file system type follows the " - " separator). */
export async function isSshfsMount(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype === 'fuse.sshfs' && mountPoint !== undefined && unescapeMountinfo(mountPoint) === dir) return true;
  }
  return false;
}

const unescapeMountinfo = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Detaches the mount on `dir`; true on success. fusermount3 (fuse 3) or fusermount (fuse 2, or
 * a link to 3), then umount(8) when we are root. */
async function fuseUnmount(dir: string, lazy: boolean, log: Logger): Promise<boolean> {
  const tries: [string, string[]][] = [
    ['fusermount3', ['-u', ...(lazy ? ['-z'] : []), dir]],
    ['fusermount', ['-u', ...(lazy ? ['-z'] : []), dir]],
  ];
  if (process.getuid?.() === 0) tries.push(['umount', [...(lazy ? ['-l'] : []), dir]]);
  let lastErr: unknown;
  for (const [cmd, args] of tries) {
    try {
      await run(cmd, args);
      return true;
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // not installed: next one
      if (!(await isSshfsMount(dir))) return true; // e.g. sshfs unmounted it meanwhile
    }
  }
  log.debug('unmount failed', { lazy, err: lastErr });
  return false;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) =>
    execFile(cmd, args, { timeout: 5000 }, (err, _stdout, stderr) => {
      if (err) rej(Object.assign(err, { stderr }));
      else res();
    }),
  );
}

/** SIGTERM (sshfs then unmounts itself), SIGKILL if it lingers; resolves once it is gone. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

const lastLines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-3)
    .join('; ');

/** With unref, a timer that only bounds a race does not keep the process alive after it. */
const sleep = (ms: number, o: { unref?: boolean } = {}) =>
  new Promise<void>((r) => {
    const timer = setTimeout(r, Math.max(0, ms));
    if (o.unref) timer.unref();
  });
