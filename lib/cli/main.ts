#!/usr/bin/env -S node --
// The `tp` command as ES modules, straight from tsc's output: `node -- dist/lib/cli/main.js`.
// The installed `tp` is main.cts, which runs the same code bundled into one file when the build
// made one (npm run build). Parses flags, starts the user daemon on demand, talks to it over its
// unix socket, prints. No cluster logic lives here.
// The shebang runs `node -- main.js ARGS`: Node 20 takes an `--env-file` anywhere in its argv as
// its own option, even after the script, and `tp intercept --env-file F` would load F into tp.
import module from 'node:module';

// Node >= 22.8 caches compiled code on disk for the modules loaded after this call (Node 20 has
// no such cache for ES modules); hence the dynamic import.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await (await import('./run.js')).main();
