// `tp completion bash|zsh|fish` (the scripts: actions/completion.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';

export function registerCompletion(program: Command): void {
  const completion = program
    .command('completion')
    .description('print a shell completion script: source <(tp completion bash), or zsh; tp completion fish | source')
    .argument('<shell>', 'bash, zsh or fish');
  lazyAction(completion, async () => (await import('../actions/completion.js')).completion);
}
