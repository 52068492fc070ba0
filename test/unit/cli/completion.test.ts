// #15: `tp completion bash|zsh|fish` — scripts generated from the command tree. The bash script
// is run by a real bash (complete it like the shell would); zsh and fish scripts are checked by
// their shells' parsers where those shells are installed.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bashScript, completionTree, fishScript, zshScript } from '../../../lib/cli/actions/completion.js';
import { buildProgram } from '../../../lib/cli/program.js';

/** What bash offers after `words` (the last one being completed). */
function bashComplete(words: string[]): string[] {
  const script = `${bashScript(buildProgram())}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_tp_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

test('#15: bash completes commands, subcommands, per-command flags and --output values', (t) => {
  t.true(bashComplete(['tp', '']).includes('connect'));
  t.deepEqual(bashComplete(['tp', 'he']), ['helm']);
  t.deepEqual(
    bashComplete(['tp', 'helm', '']).filter((w) => !w.startsWith('-')),
    ['install', 'uninstall', 'upgrade'],
  );
  t.deepEqual(bashComplete(['tp', 'helm', 'uninstall', '--man']), ['--manager-namespace']);
  t.deepEqual(bashComplete(['tp', '--debug', 'helm', 'install', '--reu']), [], 'install has no --reuse-values');
  t.deepEqual(bashComplete(['tp', 'helm', 'upgrade', '--reu']), ['--reuse-values']);
  t.true(bashComplete(['tp', 'intercept', 'echo', '--']).includes('--http-header'));
  t.true(bashComplete(['tp', 'status', '-']).includes('--output'), 'global flags everywhere');
  t.deepEqual(bashComplete(['tp', 'list', '-o', '']), ['json', 'yaml']);
});

test('#15: every command and flag of the tree is in each script', (t) => {
  const program = buildProgram();
  const scripts = { bash: bashScript(program), zsh: zshScript(program), fish: fishScript(program) };
  for (const n of completionTree(program)) {
    for (const s of n.subcommands)
      for (const [shell, text] of Object.entries(scripts)) t.true(text.includes(s.name), `${shell}: ${n.path} ${s.name}`);
    for (const o of n.options) {
      t.true(scripts.bash.includes(o.long!), `bash: ${o.long}`);
      t.true(scripts.fish.includes(`-l ${o.long!.slice(2)}`), `fish: ${o.long}`);
    }
  }
});

for (const shell of ['bash', 'zsh', 'fish'] as const) {
  const has = spawnSync(shell, ['--version']).status === 0;
  (has ? test : test.skip)(
    `#15: the ${shell} script parses in ${shell} (${shell} -n)${has ? '' : ` [skipped: ${shell} is not installed]`}`,
    (t) => {
      const program = buildProgram();
      const text = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell](program);
      const dir = mkdtempSync(join(tmpdir(), 'tp-completion-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, `tp.${shell}`), text);
      const r = spawnSync(shell, ['-n', join(dir, `tp.${shell}`)], { encoding: 'utf8' });
      t.is(r.status, 0, r.stderr);
    },
  );
}

const fish = spawnSync('fish', ['--version']).status === 0;
(fish ? test : test.skip)(
  `#15: fish completes subcommands, flags and --output values${fish ? '' : ' [skipped: fish is not installed]'}`,
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-completion-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'tp.fish'), fishScript(buildProgram()));
    const complete = (line: string) =>
      execFileSync('fish', ['-c', `source ${join(dir, 'tp.fish')}; complete -C'${line}'`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0])
        .sort();
    t.deepEqual(complete('tp helm un'), ['uninstall']);
    t.deepEqual(complete('tp helm uninstall --man'), ['--manager-namespace']);
    t.deepEqual(complete('tp list -o '), ['json', 'yaml']);
  },
);
