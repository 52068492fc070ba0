// A stand-in for the user daemon in the crash tests: holds the root daemon's watch as the user
// daemon does (lib/user/root-link.ts), says { attached } and lives until it is killed. The root
// daemon is found through TP_ROOT_RUNTIME_DIR, inherited. Started with the argument `hold`; without
// it (a test runner loading every file of the directory) it does nothing.
import { RootWatch } from '../../../lib/user/root-link.js';

if (process.argv[2] === 'hold' && process.env.TP_ROOT_RUNTIME_DIR) {
  const watch = await RootWatch.open();
  process.send!({ attached: watch.pid });
  watch.on('down', () => process.exit(0));
}
