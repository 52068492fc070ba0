// #15: sshfs's current option name, asked of the installed sshfs; a missing sshfs or FUSE device
// is one sentence with the package to install (the engagement keeps going: engagements.ts).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountError, mountSftp, sshfsInstallHint, sshfsStdioOption, stdioOptionOf } from '../../../lib/user/mounts.js';
import { silentLogger } from '../../../lib/common/log.js';

function tmp(t: { teardown(f: () => void): void }) {
  const d = mkdtempSync(join(tmpdir(), 'tp-mounts-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('#15: `passive` where sshfs lists it (3.7 renamed `slave`), `slave` for the releases before', (t) => {
  t.is(stdioOptionOf('    -o passive             communicate over stdin and stdout bypassing network\n'), 'passive');
  t.is(stdioOptionOf('    -o slave               communicate over stdin and stdout bypassing network\n'), 'slave');
});

test('#15: the option is asked of the sshfs that will run (a stand-in sshfs 2.x that knows only slave)', async (t) => {
  const d = tmp(t);
  const old = join(d, 'sshfs-2.10');
  writeFileSync(
    old,
    '#!/bin/sh\necho "usage: sshfs [user@]host:[dir] mountpoint [options]" >&2\necho "    -o slave               communicate over stdin and stdout bypassing network" >&2\nexit 1\n',
  );
  chmodSync(old, 0o755);
  t.is(await sshfsStdioOption(old), 'slave');
  t.is(await sshfsStdioOption(join(d, 'missing')), 'passive', 'a missing sshfs is reported by the spawn, not here');
});

const sshfs = spawnSync('sshfs', ['-V']).status === 0;
(sshfs ? test : test.skip)(`#15: the installed sshfs takes \`passive\`${sshfs ? '' : ' [skipped: sshfs is not installed]'}`, async (t) => {
  const version = /SSHFS version (\d+)\.(\d+)/.exec(spawnSync('sshfs', ['-V'], { encoding: 'utf8' }).stdout)!;
  const atLeast37 = Number(version[1]) > 3 || (Number(version[1]) === 3 && Number(version[2]) >= 7);
  t.is(await sshfsStdioOption('sshfs'), atLeast37 ? 'passive' : 'slave');
});

test('#15: the install hint names the package for the distribution', (t) => {
  t.regex(sshfsInstallHint('ID=debian\n'), /`sudo apt-get install sshfs`/);
  t.regex(sshfsInstallHint('ID=pop\nID_LIKE="ubuntu debian"\n'), /`sudo apt-get install sshfs`/);
  t.regex(sshfsInstallHint('ID="fedora"\n'), /`sudo dnf install fuse-sshfs`/);
  t.regex(sshfsInstallHint('ID=arch\n'), /`sudo pacman -S sshfs`/);
  t.regex(sshfsInstallHint('ID=nixos\n'), /the package is sshfs, fuse-sshfs on Fedora/);
});

test('#15: sshfs missing: "sshfs is not installed" with the package and --mount false; no stream opened, no directory left', async (t) => {
  const dir = join(tmp(t), 'm');
  let opened = false;
  const err = await t.throwsAsync(
    mountSftp({
      dir,
      remotePath: '/x',
      readOnly: true,
      log: silentLogger,
      sshfsPath: join(tmp(t), 'no-sshfs'),
      fuseDevice: '/dev/null',
      open: async () => {
        opened = true;
        throw new Error('not reached');
      },
    }),
    { instanceOf: MountError },
  );
  t.is((err as MountError).code, 'E_SSHFS_MISSING');
  t.regex((err as MountError).hint!, /^install .*sshfs.*, or skip the volumes with --mount false$/);
  t.false(opened);
  t.false(existsSync(dir));
});

test('#15: no /dev/fuse: one sentence saying so and how to load it, before anything starts', async (t) => {
  const dir = join(tmp(t), 'm');
  const err = await t.throwsAsync(
    mountSftp({
      dir,
      remotePath: '/x',
      readOnly: true,
      log: silentLogger,
      fuseDevice: join(tmp(t), 'fuse'),
      open: async () => {
        throw new Error('not reached');
      },
    }),
    { instanceOf: MountError },
  );
  t.regex(err!.message, /^this machine has no .*fuse, which sshfs mounts through$/);
  t.regex((err as MountError).hint!, /modprobe fuse.*--mount false/);
  t.false(existsSync(dir));
});
