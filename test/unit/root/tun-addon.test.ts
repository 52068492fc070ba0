// The prebuilt TUN addon (prebuilds/, made by scripts/prebuild) and how lib/root/tun-addon.ts
// finds it: the committed binaries are the ones the sources make, one per CPU, and the lookup
// takes them the way node-gyp-build does — or says in one sentence that `tp connect` needs them.
// Loading the addon opens nothing (no root needed); Tun.open is where a device appears.
import test from 'ava';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTunAddon, loadTunAddon, PACKAGE_ROOT, tunAddonTarget } from '../../../lib/root/tun-addon.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url)); // dist/test/unit/root/
const NAME = 'tp_tun.napi.uv1.glibc.node';
/** ELF e_machine of each shipped target. */
const MACHINE = { x64: 62 /* EM_X86_64 */, arm64: 183 /* EM_AARCH64 */ } as const satisfies Record<string, number>;
const shipsHere = process.platform === 'linux' && process.arch in MACHINE;

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function tempRoot(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tp-addon-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('#15: prebuilds/SHA256SUMS holds for the sources and both binaries (edit the C, run scripts/prebuild)', (t) => {
  const lines = readFileSync(join(REPO_ROOT, 'prebuilds', 'SHA256SUMS'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  const listed = new Map(lines.map((l) => [l.slice(66), l.slice(0, 64)]));
  t.deepEqual([...listed.keys()].sort(), [
    'native/tun/src/tp_tun.c',
    `prebuilds/linux-arm64/${NAME}`,
    `prebuilds/linux-x64/${NAME}`,
    'scripts/prebuild',
  ]);
  for (const [file, hash] of listed) t.is(sha256(join(REPO_ROOT, file)), hash, `${file} changed since scripts/prebuild ran`);
});

for (const [arch, machine] of Object.entries(MACHINE)) {
  test(`#15: the linux-${arch} prebuild is a 64-bit little-endian shared object for its CPU`, (t) => {
    const elf = readFileSync(join(REPO_ROOT, 'prebuilds', `linux-${arch}`, NAME));
    t.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
    t.is(elf[4], 2, 'ELFCLASS64');
    t.is(elf[5], 1, 'ELFDATA2LSB');
    t.is(elf.readUInt16LE(16), 3, 'ET_DYN');
    t.is(elf.readUInt16LE(18), machine);
  });
}

test('#15: from the package root, the prebuild for this platform is found and loads with every call Tun uses', (t) => {
  if (!shipsHere) {
    t.pass(`no prebuild is shipped for ${tunAddonTarget()}`);
    return;
  }
  t.is(PACKAGE_ROOT, REPO_ROOT);
  const found = loadTunAddon();
  if (!found.ok) return t.fail(found.reason);
  t.is(found.path, join(REPO_ROOT, 'prebuilds', tunAddonTarget(), NAME));
  const calls = Object.keys(found.module as object).sort();
  t.deepEqual(calls, [
    'close',
    'open',
    'poll',
    'pollClose',
    'pollRef',
    'pollSet',
    'pollSetSlab',
    'setMtu',
    'setTxQueueLen',
    'setUp',
    'write',
  ]);
});

test('#15: with no prebuild for the platform, the error says tp connect needs the addon and names tp connect --socks', (t) => {
  const root = tempRoot(t);
  mkdirSync(join(root, 'prebuilds', 'sunos-sparc'), { recursive: true }); // another platform's only
  writeFileSync(join(root, 'prebuilds', 'sunos-sparc', NAME), 'not for us');
  t.is(findTunAddon(root), undefined);
  const r = loadTunAddon(root);
  t.false(r.ok);
  if (r.ok) return;
  t.is(r.reason, `tp connect needs tp's native TUN addon for its virtual interface, and this tp has none for ${tunAddonTarget()}`);
  t.regex(r.hint, /`tp connect --socks`/);
  t.notRegex(r.reason + r.hint, /\n|node-gyp|loaded from/, 'one sentence, no loader internals');
});

test('#15: a prebuild of the other libc is not taken (node-gyp-build tags: musl vs glibc)', (t) => {
  if (!shipsHere) {
    t.pass(`no prebuild is shipped for ${tunAddonTarget()}`);
    return;
  }
  const root = tempRoot(t);
  const dir = join(root, 'prebuilds', tunAddonTarget());
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'prebuilds', tunAddonTarget(), NAME), join(dir, NAME.replace('glibc', 'musl')));
  t.is(findTunAddon(root), undefined);
});

test("#15: a prebuild that does not load is reported with its path and the loader's reason, not thrown", (t) => {
  if (!shipsHere) {
    t.pass(`no prebuild is shipped for ${tunAddonTarget()}`);
    return;
  }
  const root = tempRoot(t);
  const dir = join(root, 'prebuilds', tunAddonTarget());
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, NAME), 'truncated download');
  const r = loadTunAddon(root);
  t.false(r.ok);
  if (r.ok) return;
  t.true(r.reason.startsWith(`tp's native TUN addon for ${tunAddonTarget()} (${join(dir, NAME)}) does not load: `), r.reason);
  t.regex(r.hint, /reinstall tp.*`tp connect --socks`/);
});

test('#15: with no prebuild, a developer build in native/tun/build/Release is taken (node-gyp rebuild --directory native/tun)', (t) => {
  if (!shipsHere) {
    t.pass(`no prebuild is shipped for ${tunAddonTarget()}`);
    return;
  }
  const root = tempRoot(t);
  const release = join(root, 'native', 'tun', 'build', 'Release');
  mkdirSync(release, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'prebuilds', tunAddonTarget(), NAME), join(release, 'tp_tun.node'));
  t.is(findTunAddon(root), join(release, 'tp_tun.node'));
  t.true(loadTunAddon(root).ok);
});

test('#15: a prebuild wins over a developer build (the tests exercise the binary that ships)', (t) => {
  if (!shipsHere) {
    t.pass(`no prebuild is shipped for ${tunAddonTarget()}`);
    return;
  }
  const root = tempRoot(t);
  const pre = join(root, 'prebuilds', tunAddonTarget());
  const release = join(root, 'native', 'tun', 'build', 'Release');
  mkdirSync(pre, { recursive: true });
  mkdirSync(release, { recursive: true });
  copyFileSync(join(REPO_ROOT, 'prebuilds', tunAddonTarget(), NAME), join(pre, NAME));
  copyFileSync(join(REPO_ROOT, 'prebuilds', tunAddonTarget(), NAME), join(release, 'tp_tun.node'));
  t.is(findTunAddon(root), join(pre, NAME));
});
