#!/usr/bin/env -S node --
// The `tp` command. Parses flags, starts the user daemon on demand, talks to it over its unix
// socket, prints. No cluster logic lives here.
// The shebang runs `node -- main.js ARGS`: Node 20 takes an `--env-file` anywhere in its argv as
// its own option, even after the script, and `tp intercept --env-file F` would load F into tp.
//
// Start-up is most of a short command (#14): this file only turns on Node's on-disk compile cache
// where Node has one (module.enableCompileCache, Node >= 22.8; Node 20 has no cache for ES
// modules) and then loads the rest, since the cache applies to modules compiled after the call.
// Each command's action loads its own modules when it runs (commands/ and actions/).
import module from 'node:module';

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await import('./run.js');
