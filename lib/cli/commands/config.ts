// `tp config view`: the settings tp reads (~/.config/tp/config.yml), with the defaults filled in.
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('show the settings tp reads from its config file');
  const view = config
    .command('view')
    .description('print the settings in effect: the config file (~/.config/tp/config.yml, or $TP_CONFIG) over the defaults');
  lazyAction(view, async () => (await import('../actions/config.js')).configView);
}
