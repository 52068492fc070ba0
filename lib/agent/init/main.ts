// Entry of the tp-agent-init init container: `node dist/lib/agent/init/main.js [--config FILE]
// [--check | --remove]`. Runs in the pod's network namespace with NET_ADMIN (DESIGN.md §2, §6).
// Logs are JSON lines on stderr (the kubelet collects them); see run.ts for the steps and
// iptables.ts for the exit codes.
import { createLogger, isLevel } from '../../common/log.js';
import { runAgentInit } from './run.js';

const level = process.env['TP_LOG_LEVEL'];
const log = createLogger({ level: level && isLevel(level) ? level : 'info', fields: { component: 'tp-agent-init' } });
const code = await runAgentInit({
  argv: process.argv.slice(2),
  env: process.env,
  log,
  terminationLog: process.env['TP_TERMINATION_LOG'] ?? '/dev/termination-log',
});
process.exitCode = code;
