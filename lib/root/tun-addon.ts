// Where the root daemon finds its TUN addon (native/tun). The package ships it prebuilt
// (scripts/prebuild: prebuilds/linux-x64, prebuilds/linux-arm64), so installing tp never runs a
// compiler; this only finds the file that fits the running Node and loads it.
//
// The lookup is node-gyp-build's own, not a copy of it: that package is already in the tree
// (netlink loads its prebuilt binary with it), so using it costs nothing and the tags in our file
// names (`napi`, `uv1`, `glibc`) are matched exactly as for netlink's. In order:
//   1. the package root: build/Release or build/Debug if there is one, then
//      prebuilds/<platform>-<arch>/*.node whose tags fit this Node;
//   2. native/tun/build/Release or /Debug: a developer's `node-gyp rebuild --directory native/tun`,
//      for a platform with no prebuild.
// A machine with neither gets a sentence that says so and names `tp connect --socks`, which needs
// no addon. Only Tun.open (tun.ts) loads the addon, so every other command works without it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/lib/root/ → the package (or checkout) root. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };

export type TunAddonLoad = { ok: true; path: string; module: unknown } | { ok: false; reason: string; hint: string; cause?: unknown };

/** `linux-x64`: the prebuilds/ folder this process would take its addon from. */
export const tunAddonTarget = (): string => `${process.platform}-${process.arch}`;

/** The addon's file for this platform under `root`, or undefined when there is none. */
export function findTunAddon(root: string = PACKAGE_ROOT): string | undefined {
  for (const dir of [root, join(root, 'native', 'tun')]) {
    try {
      return nodeGypBuild.path(dir);
    } catch {
      // node-gyp-build throws "No native build was found for …": try the next place
    }
  }
  return undefined;
}

/** Finds and loads the addon; never throws (the caller words the error in its own type). */
export function loadTunAddon(root: string = PACKAGE_ROOT): TunAddonLoad {
  const path = findTunAddon(root);
  if (!path) {
    return {
      ok: false,
      reason: `tp connect needs tp's native TUN addon for its virtual interface, and this tp has none for ${tunAddonTarget()}`,
      hint: 'use `tp connect --socks` instead (a local SOCKS5/HTTP proxy: no addon, no root)',
    };
  }
  try {
    const module = require(path) as Record<string, unknown>;
    if (typeof module.open !== 'function' || typeof module.poll !== 'function') throw new Error('it is not the TUN addon (no open/poll)');
    return { ok: true, path, module };
  } catch (err) {
    const why = ((err as Error).message ?? String(err)).split('\n')[0];
    return {
      ok: false,
      reason: `tp's native TUN addon for ${tunAddonTarget()} (${path}) does not load: ${why}`,
      hint: 'reinstall tp; meanwhile `tp connect --socks` works without the addon',
      cause: err,
    };
  }
}
