// `tp config view`: the settings tp reads (~/.config/tp/config.yml), with the defaults filled in.
import type { Command } from 'commander';
import { loadConfig } from '../../common/config.js';
import { emit, parseOutput, toYaml } from '../output.js';

export async function configView(_o: unknown, cmd: Command): Promise<void> {
  const { config: c, path, exists } = loadConfig();
  const text = await toYaml(c);
  await emit(parseOutput(cmd.optsWithGlobals().output as string | undefined), { path, exists, config: c }, () => {
    process.stdout.write(`# ${path}${exists ? '' : ' (no such file: these are the defaults)'}\n`);
    process.stdout.write(text);
  });
}
