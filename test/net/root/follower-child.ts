// A stand-in for the user daemon in the crash tests: holds the root daemon's watch as the user
// daemon does (lib/user/root-link.ts), says { attached } and lives until it is killed. The root
// daemon is found through TP_ROOT_RUNTIME_DIR, inherited.
import { RootWatch } from '../../../lib/user/root-link.js';

const watch = await RootWatch.open();
process.send!({ attached: watch.pid });
watch.on('down', () => process.exit(0));
