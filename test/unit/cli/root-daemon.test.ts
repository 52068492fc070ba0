// #15: the CLI starts the root daemon in the user's terminal. Without a terminal and without
// passwordless sudo, one sentence says what to do; without the TUN addon, the addon's sentence
// comes before sudo is ever run. sudo is a stand-in script here (it records how it was called).
import test from 'ava';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureRootDaemon, sudoFailure } from '../../../lib/cli/root-daemon.js';
import type { CliError } from '../../../lib/cli/output.js';

function fakeSudo(t: { teardown(f: () => void): void }, script: string): { path: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tp-sudo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls = join(dir, 'calls');
  const path = join(dir, 'sudo');
  writeFileSync(path, `#!/bin/sh\nprintf "%s " "$@" >> ${calls}\n${script}\n`);
  chmodSync(path, 0o755);
  process.env.TP_LOG_DIR = join(dir, 'logs');
  return { path, calls };
}

const ok = () => ({ ok: true as const, path: '/x.node', module: {} });
const notRunning = async () => false;

test('#15: no terminal and sudo wants a password: one sentence with what to do, and sudo was asked with -n', async (t) => {
  const sudo = fakeSudo(t, 'echo "sudo: a password is required" >&2; exit 1');
  const err = (await t.throwsAsync(
    ensureRootDaemon({ logLevel: 'info', isTTY: false, uid: 1000, sudo: sudo.path, running: notRunning, addon: ok }),
  )) as CliError;
  t.is(err.code, 'E_NEED_ROOT');
  t.is(err.message, 'tp connect needs root for its network interface, and sudo wants a password but there is no terminal to ask it in');
  t.regex(err.hint!, /run `tp connect` in a terminal.*sudoers.*tp connect --socks/);
  const args = readFileSync(sudo.calls, 'utf8').trim().split(' ');
  t.is(args[0], '-n', 'never prompt without a terminal');
  t.regex(args.join(' '), /\/cli\/root-launch\.js --runtime-dir \S+ --log-dir \S+ --log-level info$/);
});

test('#15: with a terminal, plain sudo (it may prompt), never -n', async (t) => {
  const sudo = fakeSudo(t, 'exit 1');
  const err = (await t.throwsAsync(
    ensureRootDaemon({ logLevel: 'debug', isTTY: true, uid: 1000, sudo: sudo.path, running: notRunning, addon: ok }),
  )) as CliError;
  t.is(err.code, 'E_NEED_ROOT');
  const args = readFileSync(sudo.calls, 'utf8').trim().split(' ');
  t.is(args[0], '-p', 'a prompt that says why, not -n');
  t.false(args.includes('-n'));
  t.regex(err.hint!, /try again.*tp connect --socks/);
});

test('#15: without the TUN addon the addon sentence comes first and sudo is never run', async (t) => {
  const sudo = fakeSudo(t, 'exit 0');
  const err = (await t.throwsAsync(
    ensureRootDaemon({
      logLevel: 'info',
      isTTY: false,
      uid: 1000,
      sudo: sudo.path,
      running: notRunning,
      addon: () => ({
        ok: false,
        reason: "tp connect needs tp's native TUN addon for its virtual interface, and this tp has none for linux-riscv64",
        hint: 'use `tp connect --socks` instead',
      }),
    }),
  )) as CliError;
  t.is(err.code, 'E_TUN_ADDON');
  t.regex(err.message, /has none for linux-riscv64$/);
  t.false(existsSync(sudo.calls), 'sudo was not run');
});

test('#15: a root daemon that already runs is used as it is: no addon check, no sudo', async (t) => {
  const sudo = fakeSudo(t, 'exit 1');
  await ensureRootDaemon({
    logLevel: 'info',
    isTTY: true,
    uid: 1000,
    sudo: sudo.path,
    running: async () => true,
    addon: () => {
      throw new Error('not asked');
    },
  });
  t.false(existsSync(sudo.calls));
});

test('#15: sudo refusing the user, or not installed, reads as a sentence too', async (t) => {
  t.regex(
    sudoFailure(1, 'alice is not in the sudoers file.  This incident will be reported.\n', true).message,
    /sudo does not allow you to run it$/,
  );
  const err = (await t.throwsAsync(
    ensureRootDaemon({ logLevel: 'info', isTTY: false, uid: 1000, sudo: '/nonexistent/sudo', running: notRunning, addon: ok }),
  )) as CliError;
  t.is(err.message, 'tp connect needs root for its network interface, and sudo is not installed');
});
