// The pack tier (issue 15): the tarball `npm pack` makes, installed into an empty project on a PATH
// with no compiler, make or python, is a working tp — the prebuilt TUN addon inside, nothing a
// user does not need. No root, no network (the install is offline), no cluster: tp connect with
// the packed package is tier 3 (test/e2e/install/packed.test.ts).
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BUILD_TOOLS, listTree, packAndInstall, REPO_ROOT, type PackedInstall } from '../helpers/packed.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const target = `${process.platform}-${process.arch}`;
const ADDON = 'tp_tun.napi.uv1.glibc.node';
let p: PackedInstall;

/** Runs a program the way a user of the installed package would: its PATH, its HOME. */
async function asUser(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(cmd, args, { env: p.env, cwd: p.prefix, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** lib/root/tun-addon.js of the installed package, asked from a child Node. */
async function installedAddonLookup(): Promise<{ ok: boolean; path?: string; reason?: string; hint?: string }> {
  const script = `const m = await import(${JSON.stringify(join(p.pkgDir, 'dist/lib/root/tun-addon.js'))});
const r = m.loadTunAddon(); delete r.module; delete r.cause; console.log(JSON.stringify(r));`;
  const r = await asUser('node', ['--input-type=module', '-e', script]);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; path?: string; reason?: string; hint?: string };
}

test.before(async () => {
  p = await packAndInstall();
});

test.after.always(() => p?.remove());

test.serial('#15: the tarball holds dist/lib JavaScript, the chart, both prebuilds and the docs; no maps, tests, TypeScript or C', (t) => {
  const files = p.tarballFiles;
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'dist/lib/cli/main.js',
    'dist/lib/cli/main.cjs',
    'dist/lib/cli/tp.cjs',
    'dist/lib/root/main.js',
    'dist/lib/root/tun-addon.js',
    'helm/Chart.yaml',
    'helm/values.yaml',
    `prebuilds/linux-x64/${ADDON}`,
    `prebuilds/linux-arm64/${ADDON}`,
  ]) {
    t.true(files.includes(f), `${f} is in the tarball`);
  }
  const unexpected = files.filter(
    (f) =>
      !/^(dist\/lib\/.+\.js|dist\/lib\/cli\/[^/]+\.cjs|helm\/.+|prebuilds\/linux-(x64|arm64)\/[^/]+\.node|package\.json|README\.md|LICENSE|CHANGELOG\.md)$/.test(
        f,
      ),
  );
  t.deepEqual(unexpected, []);
  t.deepEqual(
    files.filter((f) => /\.(map|ts|c|h|gyp)$|(^|\/)test\//.test(f)),
    [],
  );
  t.log(`${p.tarballFiles.length} files, ${(p.tarballBytes / 1024).toFixed(0)} KiB packed`);
});

test.serial('#15: the packed package.json runs nothing at install (no install, preinstall or postinstall script)', (t) => {
  const installed = JSON.parse(readFileSync(join(p.pkgDir, 'package.json'), 'utf8')) as {
    name: string;
    scripts?: Record<string, string>;
    os?: string[];
    bin?: Record<string, string>;
  };
  t.is(installed.name, pkg.name);
  t.deepEqual(
    Object.keys(installed.scripts ?? {}).filter((s) => /^(pre|post)?install$/.test(s)),
    [],
  );
  t.deepEqual(installed.os, ['linux']);
  t.deepEqual(Object.keys(installed.bin ?? {}), ['tp']);
});

test.serial('#15: the install ran with node and npm on PATH but no compiler, make or python', async (t) => {
  for (const tool of ['node', 'npm', 'sh']) t.is((await asUser('sh', ['-c', `command -v ${tool}`])).code, 0, `${tool} is reachable`);
  for (const tool of BUILD_TOOLS) t.not((await asUser('sh', ['-c', `command -v ${tool}`])).code, 0, `${tool} is not reachable`);
});

test.serial('#15: the installed tree has the prebuild for every shipped CPU, byte for byte, and no maps or tests', (t) => {
  const tree = listTree(p.pkgDir);
  for (const arch of ['x64', 'arm64']) {
    const rel = `prebuilds/linux-${arch}/${ADDON}`;
    t.true(tree.includes(rel), rel);
    t.true(readFileSync(join(p.pkgDir, rel)).equals(readFileSync(join(REPO_ROOT, rel))), `${rel} is the committed binary`);
  }
  t.deepEqual(
    tree.filter((f) => /\.(map|ts)$|^dist\/(test|bench)\/|^native\//.test(f)),
    [],
  );
});

test.serial('#15: tp --version of the installed package prints its version; tp --help lists connect', async (t) => {
  // #14: the installed tp runs the one-file bundle (main.cjs takes it when it is not older).
  t.true(
    statSync(join(p.pkgDir, 'dist/lib/cli/tp.cjs')).mtimeMs >= statSync(join(p.pkgDir, 'dist/lib/cli/main.cjs')).mtimeMs,
    'the bundle is current',
  );
  const v = await asUser(p.tp, ['--version']);
  t.is(v.code, 0, v.stderr);
  t.is(v.stdout, `${pkg.version}\n`);
  const h = await asUser(p.tp, ['--help']);
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, /^\s+connect\b/m);
});

test.serial(
  '#15: the installed tp finds its TUN addon in its own prebuilds/; without it, one sentence names tp connect --socks',
  async (t) => {
    if (!['linux-x64', 'linux-arm64'].includes(target)) {
      t.pass(`no prebuild is shipped for ${target}`);
      return;
    }
    const found = await installedAddonLookup();
    t.true(found.ok, found.reason);
    t.is(found.path, join(p.pkgDir, 'prebuilds', target, ADDON));

    const prebuilds = join(p.pkgDir, 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.gone`);
    t.teardown(() => renameSync(`${prebuilds}.gone`, prebuilds));
    const missing = await installedAddonLookup();
    t.false(missing.ok);
    t.is(missing.reason, `tp connect needs tp's native TUN addon for its virtual interface, and this tp has none for ${target}`);
    t.regex(missing.hint ?? '', /`tp connect --socks`/);
    const v = await asUser(p.tp, ['--version']);
    t.is(v.code, 0, 'every command but the VIF works without the addon');
  },
);
