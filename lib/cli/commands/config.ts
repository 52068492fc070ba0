// `tp config view`: the settings tp reads (~/.config/tp/config.yml), with the defaults filled in.
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../../common/config.js';
import { emit, parseOutput } from '../output.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('show the settings tp reads from its config file');
  config
    .command('view')
    .description('print the settings in effect: the config file (~/.config/tp/config.yml, or $TP_CONFIG) over the defaults')
    .action((_o: unknown, cmd: Command) => {
      const { config: c, path, exists } = loadConfig();
      emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), { path, exists, config: c }, () => {
        process.stdout.write(`# ${path}${exists ? '' : ' (no such file: these are the defaults)'}\n`);
        process.stdout.write(toYaml(c));
      });
    });
}
