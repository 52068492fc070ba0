// `tp status`: is the daemon up, is it connected, to what, and how traffic fares.
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function registerStatus(program: Command): void {
  const status = program.command('status').description('show the connection to the cluster and its health');
  lazyAction(status, async () => (await import('../actions/status.js')).status);
}
