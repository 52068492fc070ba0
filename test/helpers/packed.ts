// The package as users get it (issue 15): `npm pack` in the checkout, as a maintainer publishes it
// (prepack checks the prebuilt addon against its sources and compiles dist/), then an install of
// the tarball into an empty directory with a PATH that holds node, npm and a shell but no
// compiler, make or python — so anything that tried to build native code at install time fails
// the install.
//
// Offline, on purpose: tests send nothing beyond the machine (HELPERS.md). npm resolves a bare
// tarball's dependencies from registry metadata, which `npm ci` does not cache; so the empty
// project gets a lockfile with the checkout's own resolved tree (package-lock.json less its dev
// entries), and `npm ci --offline` takes every dependency from the cache that `npm ci` filled:
// the same versions the other tiers ran against.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/helpers/

/** What a user's machine has besides Node: a shell and the everyday tools npm scripts call. */
const BASIC_TOOLS = [
  'sh',
  'env',
  'cat',
  'ls',
  'mkdir',
  'rm',
  'cp',
  'mv',
  'ln',
  'chmod',
  'uname',
  'id',
  'grep',
  'sed',
  'tr',
  'head',
  'tail',
  'dirname',
  'basename',
  'true',
  'false',
];
/** Must not be reachable through that PATH. */
export const BUILD_TOOLS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'aarch64-linux-gnu-gcc', 'make', 'gmake', 'cmake', 'python', 'python3'];

export interface PackedInstall {
  /** Everything below is inside this temporary directory. */
  dir: string;
  tarball: string;
  tarballBytes: number;
  /** Paths in the tarball, without the leading `package/`. */
  tarballFiles: string[];
  /** The project the tarball was installed into; tp is in node_modules/.bin. */
  prefix: string;
  pkgDir: string;
  tp: string;
  /** A directory of symlinks: node, npm and BASIC_TOOLS (plus runtime tools when asked). */
  binDir: string;
  /** The environment the install ran with, for running the installed tp the same way. */
  env: NodeJS.ProcessEnv;
  installOutput: string;
  remove(): void;
}

/** Finds a command on the test's own PATH, or undefined. The link keeps the name it is called by
 * (multi-call binaries such as xtables-nft-multi dispatch on it). */
function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The empty project's package.json and lockfile: the tarball, then the checkout's production tree. */
function installProject(prefix: string, tarballSpec: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { name: string };
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const dependencies = { [pkg.name]: tarballSpec };
  const packages: Record<string, unknown> = {
    '': { name: 'tp-install-check', dependencies },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: tarballSpec,
      integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
      os: pkg.os,
      cpu: pkg.cpu,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: 'tp-install-check', private: true, dependencies }, null, 2));
  writeFileSync(
    join(prefix, 'package-lock.json'),
    JSON.stringify({ name: 'tp-install-check', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}

/** Packs the checkout and installs the tarball with no build tools on PATH. `runtimeTools` are
 * linked into the same PATH for running tp afterwards (iptables for the VIF, `ip` for netns). */
export async function packAndInstall(opts: { runtimeTools?: string[] } = {}): Promise<PackedInstall> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-pack-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    // 1. The maintainer's side: the checkout's own environment (tsc, the prebuild check).
    const packDir = join(dir, 'pack');
    mkdirSync(packDir);
    await run('npm', ['pack', '--pack-destination', packDir, '--loglevel=warn'], { cwd: REPO_ROOT, maxBuffer: 16 << 20, timeout: 300_000 });
    const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    if (tarballs.length !== 1) throw new Error(`npm pack made ${tarballs.length} tarballs: ${tarballs.join(', ')}`);
    const tarball = join(packDir, tarballs[0]!);
    const listing = (await run('tar', ['-tzf', tarball], { maxBuffer: 16 << 20 })).stdout;
    const tarballFiles = listing
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));

    // 2. The user's side: node, npm, a shell; no compiler, make or python.
    const binDir = join(dir, 'bin');
    mkdirSync(binDir);
    symlinkSync(process.execPath, join(binDir, 'node'));
    const npm = which('npm');
    if (!npm) throw new Error('npm is not on PATH');
    symlinkSync(npm, join(binDir, 'npm'));
    for (const t of [...BASIC_TOOLS, ...(opts.runtimeTools ?? [])]) {
      const p = which(t);
      if (p && !existsSync(join(binDir, t))) symlinkSync(p, join(binDir, t));
    }
    const home = join(dir, 'home');
    mkdirSync(home);
    const cache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim();
    const env: NodeJS.ProcessEnv = {
      PATH: binDir,
      HOME: home,
      TMPDIR: dir,
      LANG: 'C.UTF-8',
      npm_config_cache: cache,
      npm_config_update_notifier: 'false',
    };
    const prefix = join(dir, 'project');
    mkdirSync(prefix);
    installProject(prefix, `file:../pack/${tarballs[0]}`, tarball);
    let installOutput: string;
    try {
      const r = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
        cwd: prefix,
        env,
        maxBuffer: 16 << 20,
        timeout: 300_000,
      });
      installOutput = r.stdout + r.stderr;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `installing the packed tarball failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}` +
          (/ENOTCACHED/.test(e.stderr ?? '') ? '\n(the npm cache lacks a dependency: run `npm ci` in the checkout first)' : ''),
      );
    }
    const pkgName = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string }).name;
    return {
      dir,
      tarball,
      tarballBytes: statSync(tarball).size,
      tarballFiles,
      prefix,
      binDir,
      env,
      installOutput,
      remove,
      pkgDir: join(prefix, 'node_modules', ...pkgName.split('/')),
      tp: join(prefix, 'node_modules', '.bin', 'tp'),
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Every file under `root`, relative to it (a tree as a list, for assertions). */
export function listTree(root: string, sub = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listTree(root, rel));
    else out.push(rel);
  }
  return out;
}
