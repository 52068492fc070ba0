#!/usr/bin/env -S node --
// The installed `tp` (package.json "bin"). Start-up is most of a short command (#14), and on
// Node 20 most of a short command's start-up is loading modules: ES modules cost Node's ESM
// loader (about 10 ms of CPU before the first one runs) and each file its own resolve, read and
// compile. So the CLI is also bundled into one CommonJS file, dist/lib/cli/tp.cjs (esbuild, npm
// run build:cli), which loads no ESM at all for most commands; each command's action is still
// evaluated only when that command runs, and its dependencies (client-node, the chart engine,
// yaml) required only then.
//
// The bundle runs when it was built after this file; a plain `tsc` rewrites this file and leaves
// the bundle behind, and then main.js (the same sources, unbundled) runs instead, so `npx tp`
// never runs stale code. npm pack gives every file the same time: the installed package runs the
// bundle. The `--` in the shebang: see main.ts.
import { statSync } from 'node:fs';
import { join } from 'node:path';

const BUNDLE = join(__dirname, 'tp.cjs');

function bundleIsCurrent(): boolean {
  try {
    return statSync(BUNDLE).mtimeMs >= statSync(__filename).mtimeMs;
  } catch {
    return false;
  }
}

if (bundleIsCurrent()) {
  // Node >= 22.8: its compile cache for what the bundle requires later (see main.ts).
  (require('node:module') as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  void (require(BUNDLE) as { main(): Promise<void> }).main();
} else {
  void import('./main.js');
}
