// `--mount`: sshfs in passive mode (`-o passive`, formerly `slave`) on the workstation side, OpenSSH sftp-server on the agent side,
// joined by a loopback socket pair standing in for the tunnel stream. Needs root (or fuse access),
// /dev/fuse, sshfs and /usr/lib/openssh/sftp-server.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { serveSftp } from '../../../lib/agent/sftp.js';
import { isSshfsMount, mountSftp, MountError, type SftpMount } from '../../../lib/user/mounts.js';
import { recordingLogger, socketPair } from './harness.js';

const execFileP = promisify(execFile);

let tree: string; // what the agent serves
let mounts: string; // where mount points go; never inside `tree`
const HELLO = 'hello, volume\n';
const NESTED = randomBytes(4096);
const BIG = randomBytes(20 << 20);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  tree = await mkdtemp(join(tmpdir(), 'tp-sftp-tree-'));
  mounts = await mkdtemp(join(tmpdir(), 'tp-sftp-mnt-'));
  await writeFile(join(tree, 'hello.txt'), HELLO);
  await writeFile(join(tree, 'with space é.txt'), 'x');
  await mkdir(join(tree, 'sub'));
  await writeFile(join(tree, 'sub', 'nested.bin'), NESTED);
  await writeFile(join(tree, 'big.bin'), BIG);
  // The shape of a Kubernetes ConfigMap volume: files are symlinks through `..data`.
  await mkdir(join(tree, '..2024_01_01'));
  await writeFile(join(tree, '..2024_01_01', 'config.yaml'), 'key: value\n');
  await symlink('..2024_01_01', join(tree, '..data'));
  await symlink('..data/config.yaml', join(tree, 'config.yaml'));
});

test.after.always(async () => {
  // A test that failed half-way may leave a mount; rm would walk into it.
  if (mounts) {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    for (const line of info.split('\n')) {
      const mp = line.split(' ')[4]?.replace(/\\040/g, ' ');
      if (mp?.startsWith(mounts)) await execFileP('umount', ['-l', mp]).catch(() => {});
    }
    await rm(mounts, { recursive: true, force: true });
  }
  if (tree) await rm(tree, { recursive: true, force: true });
});

interface Mounted {
  m: SftpMount;
  /** The agent's end of the stream. */
  agentEnd: () => Socket;
  /** serveSftp's promise. */
  served: () => Promise<void>;
  log: ReturnType<typeof recordingLogger>;
}

async function mountTree(
  t: ExecutionContext,
  opts: { dir?: string; readOnly?: boolean; serverReadOnly?: boolean; remotePath?: string } = {},
): Promise<Mounted> {
  const log = recordingLogger();
  const readOnly = opts.readOnly ?? true;
  let agentEnd: Socket | undefined;
  let served: Promise<void> | undefined;
  const m = await mountSftp({
    dir: opts.dir ?? join(mounts, `m-${randomBytes(3).toString('hex')}`, 'app mount'),
    remotePath: opts.remotePath ?? tree,
    readOnly,
    log,
    open: async () => {
      const [client, agent] = await socketPair();
      agentEnd = agent;
      served = serveSftp(agent, { root: tree, readOnly: opts.serverReadOnly ?? readOnly, log });
      return client;
    },
  });
  t.teardown(async () => {
    await m.unmount();
    await served;
  });
  return { m, agentEnd: () => agentEnd!, served: () => served!, log };
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} took over ${ms} ms`)), ms))]);

test('a mount shows the served tree: files byte-exact, directories listed, ConfigMap symlinks followed', async (t) => {
  const { m } = await mountTree(t);
  t.true(await isSshfsMount(m.dir));
  t.is(await readFile(join(m.dir, 'hello.txt'), 'utf8'), HELLO);
  t.deepEqual(await readFile(join(m.dir, 'sub', 'nested.bin')), NESTED);
  t.deepEqual((await readdir(m.dir)).sort(), (await readdir(tree)).sort());
  t.deepEqual(await readdir(join(m.dir, 'sub')), ['nested.bin']);
  t.is(await readFile(join(m.dir, 'with space é.txt'), 'utf8'), 'x');
  t.is(await readFile(join(m.dir, 'config.yaml'), 'utf8'), 'key: value\n');
  t.is((await stat(join(m.dir, 'big.bin'))).size, BIG.length);
});

test('a 20 MiB file reads back byte-exact', async (t) => {
  const { m } = await mountTree(t);
  const got = await readFile(join(m.dir, 'big.bin'));
  t.is(got.length, BIG.length);
  t.is(sha(got), sha(BIG));
});

test('read-only: creating, appending, mkdir and unlink fail with EROFS', async (t) => {
  const { m } = await mountTree(t, { readOnly: true });
  for (const [what, p] of [
    ['create', writeFile(join(m.dir, 'new.txt'), 'x')],
    ['append', appendFile(join(m.dir, 'hello.txt'), 'x')],
    ['mkdir', mkdir(join(m.dir, 'newdir'))],
    ['unlink', unlink(join(m.dir, 'hello.txt'))],
  ] as const) {
    const err = await t.throwsAsync(p, undefined, what);
    t.true(['EROFS', 'EACCES'].includes((err as NodeJS.ErrnoException).code!), `${what}: ${(err as Error).message}`);
  }
  t.is(await readFile(join(tree, 'hello.txt'), 'utf8'), HELLO);
  t.false(existsSync(join(tree, 'new.txt')));
});

test('read-only on the agent alone (sftp-server -R) still refuses writes', async (t) => {
  const { m } = await mountTree(t, { readOnly: false, serverReadOnly: true });
  const err = await t.throwsAsync(writeFile(join(m.dir, 'new.txt'), 'x'));
  t.true(['EACCES', 'EPERM', 'EROFS'].includes((err as NodeJS.ErrnoException).code!), (err as Error).message);
  t.false(existsSync(join(tree, 'new.txt')));
});

test('read-write: a file written through the mount lands in the served tree', async (t) => {
  const { m } = await mountTree(t, { readOnly: false });
  t.teardown(() => rm(join(tree, 'written.txt'), { force: true }));
  await writeFile(join(m.dir, 'written.txt'), 'from the workstation');
  t.is(await readFile(join(tree, 'written.txt'), 'utf8'), 'from the workstation');
});

test('unmount detaches the mount, removes the directories it made, stops both sides, and is idempotent', async (t) => {
  const parent = join(mounts, `made-${randomBytes(3).toString('hex')}`);
  const { m, served } = await mountTree(t, { dir: join(parent, 'a', 'b') });
  await readFile(join(m.dir, 'hello.txt'));
  await m.unmount();
  t.false(await isSshfsMount(m.dir));
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(parent));
  t.false(existsSync(parent), 'every directory mountSftp made is gone');
  await within(m.closed, 1000, 'closed');
  await within(served(), 3000, 'sftp-server ending');
  await m.unmount();
});

test('unmount keeps a mount point that existed before', async (t) => {
  const dir = join(mounts, `kept-${randomBytes(3).toString('hex')}`);
  await mkdir(dir);
  const { m } = await mountTree(t, { dir });
  await m.unmount();
  t.false(await isSshfsMount(dir));
  t.deepEqual(await readdir(dir), []);
});

test('unmount while a file is open inside still detaches the mount (lazily)', async (t) => {
  const { m } = await mountTree(t);
  const fh = await open(join(m.dir, 'hello.txt'));
  t.teardown(() => fh.close().catch(() => {}));
  await within(m.unmount(), 10_000, 'unmount of a busy mount');
  t.false(await isSshfsMount(m.dir));
  t.false(existsSync(m.dir));
});

test('the stream dying mid-read unmounts and resolves closed within a few seconds', async (t) => {
  const { m, agentEnd, served, log } = await mountTree(t);
  const reading = new Promise<void>((res) => {
    const rs = createReadStream(join(m.dir, 'big.bin'), { highWaterMark: 64 << 10 });
    rs.once('data', () => agentEnd().destroy());
    rs.on('error', () => res()).on('end', () => res());
  });
  await within(m.closed, 5000, 'closed after the stream died');
  await within(reading, 5000, 'the interrupted read');
  await within(served(), 3000, 'sftp-server ending');
  t.false(await isSshfsMount(m.dir));
  t.false(existsSync(m.dir));
  t.true(log.lines.some((l) => l.level === 'warn' && /mount ended/.test(l.msg)));
});

test('a non-empty directory is refused before anything starts', async (t) => {
  const dir = join(mounts, `full-${randomBytes(3).toString('hex')}`);
  await mkdir(dir);
  await writeFile(join(dir, 'mine.txt'), 'keep me');
  let opened = false;
  const err = await t.throwsAsync(
    mountSftp({
      dir,
      remotePath: tree,
      readOnly: true,
      log: recordingLogger(),
      open: async () => ((opened = true), (await socketPair())[0]),
    }),
    { instanceOf: MountError },
  );
  t.is((err as MountError).code, 'E_MOUNT_DIR');
  t.regex(err!.message, /the directory is not empty/);
  t.false(opened);
  t.is(await readFile(join(dir, 'mine.txt'), 'utf8'), 'keep me');
});

test('sshfs missing at the given path: "sshfs is not installed", a hint, no stream opened, no dir left', async (t) => {
  const dir = join(mounts, `nosshfs-${randomBytes(3).toString('hex')}`);
  let opened = false;
  const err = await t.throwsAsync(
    mountSftp({
      dir,
      remotePath: tree,
      readOnly: true,
      log: recordingLogger(),
      sshfsPath: '/nonexistent/sshfs',
      open: async () => ((opened = true), (await socketPair())[0]),
    }),
    { instanceOf: MountError },
  );
  t.is((err as MountError).code, 'E_SSHFS_MISSING');
  t.is(err!.message, 'sshfs is not installed at /nonexistent/sshfs');
  t.regex((err as MountError).hint!, /apt-get install sshfs.*--mount false/);
  t.false(opened);
  t.false(existsSync(dir));
});

test('sshfs not on PATH: the error says "sshfs is not installed"', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const err = await t.throwsAsync(
      mountSftp({
        dir: join(mounts, 'nopath'),
        remotePath: tree,
        readOnly: true,
        log: recordingLogger(),
        open: async () => (await socketPair())[0],
      }),
      { instanceOf: MountError },
    );
    t.is(err!.message, 'sshfs is not installed');
  } finally {
    process.env.PATH = saved;
  }
});

test("a remote path the agent does not have fails in one sentence carrying sshfs's reason", async (t) => {
  const dir = join(mounts, `bad-${randomBytes(3).toString('hex')}`);
  const err = await t.throwsAsync(mountTree(t, { dir, remotePath: join(tree, 'no-such-dir') }), { instanceOf: MountError });
  t.is((err as MountError).code, 'E_MOUNT_FAILED');
  t.regex(err!.message, /^sshfs could not mount .*no-such-dir on .*: .*No such file/);
  t.false(existsSync(dir));
});

test('serveSftp without sftp-server logs the reason and destroys the stream', async (t) => {
  const [client, agent] = await socketPair();
  t.teardown(() => client.destroy());
  const log = recordingLogger();
  const clientClosed = new Promise<void>((res) => client.once('close', () => res()));
  client.on('error', () => {});
  await serveSftp(agent, { root: tree, readOnly: true, log, sftpServerPath: '/nonexistent/sftp-server' });
  t.true(agent.destroyed);
  await within(clientClosed, 2000, 'the client end closing');
  t.true(log.lines.some((l) => l.level === 'error' && /sftp-server is not installed/.test(l.msg)));
});
