// The small commands: quit, version, list, loglevel (their actions: actions/simple.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

const actions = () => import('../actions/simple.js');

export function registerSimple(program: Command): void {
  const quit = program
    .command('quit')
    .description('disconnect from the cluster and stop the user daemon')
    .option('-s, --stop-daemons', 'also stop the root daemon');
  lazyAction(quit, async () => (await actions()).quit);

  const version = program
    .command('version')
    .description('print the versions of the client, the daemons, the traffic manager and the agent image it injects');
  lazyAction(version, async () => (await actions()).version);

  const list = program
    .command('list')
    .description('list the workloads of a namespace and whether they can be engaged')
    .option('-n, --namespace <name>', 'namespace to list (default: the connected one)');
  lazyAction(list, async () => (await actions()).list);

  const loglevel = program
    .command('loglevel')
    .description("change the user daemon's log level now (trace, debug, info, warn, error)")
    .argument('<level>');
  lazyAction(loglevel, async () => (await actions()).loglevel);
}
