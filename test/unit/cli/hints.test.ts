// #15: every `tp …` command line that tp prints as a hint names commands and flags that exist.
// The hints are read off the sources (every string and template literal under lib/, comments
// left out, through the TypeScript parser) and each command line is parsed by the CLI's own
// commander tree with its actions replaced by no-ops, so nothing runs.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Command } from 'commander';
import { allCommands, buildProgram } from '../../../lib/cli/program.js';
import { renderChart } from '../../../lib/helm/chart.js';
import { userValues } from '../../../lib/helm/values.js';

const LIB = fileURLToPath(new URL('../../../../lib/', import.meta.url));
const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The text of a string or template literal; each ${…} becomes "x". */
function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => 'x' + s.literal.text).join('');
  return undefined;
}

interface Hint {
  file: string;
  line: number;
  command: string;
}

/** `tp …` spans in literals: inline code in what tp prints. */
export function hintsIn(file: string): Hint[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Hint[] = [];
  const visit = (n: ts.Node) => {
    const text = literalText(n);
    if (text !== undefined) {
      for (const m of text.matchAll(/`(tp [^`]*)`/g)) {
        out.push({ file: file.slice(LIB.length), line: src.getLineAndCharacterOfPosition(n.getStart()).line + 1, command: m[1]! });
      }
      if (!ts.isTemplateExpression(n)) return;
    }
    n.forEachChild(visit);
  };
  visit(src);
  return out;
}

/** The tree with every action a no-op and every error thrown instead of printed. */
function dryProgram(): Command {
  const program = buildProgram();
  for (const c of allCommands(program)) {
    c.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    if (c !== program && c.commands.length === 0) c.action(() => {});
  }
  return program;
}

/** Words a hint uses as placeholders (NAME, WORKLOAD) are arguments like any other. */
const words = (command: string) => command.split(/\s+/).slice(1).filter(Boolean);

/** The chart's NOTES.txt (what `helm install` and `tp helm install` print) holds command lines
 * too: each line that starts with `tp `, rendered with every branch shown. */
function notesHints(): Hint[] {
  const notes = renderChart(CHART, {
    releaseName: 'traffic-manager',
    namespace: 'dev',
    values: userValues({ set: ['managedNamespaces={a}'] }),
  }).notes;
  return notes
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('tp '))
    .map((command) => ({ file: 'helm/templates/NOTES.txt', line: 0, command }));
}

const hints = [...sources(LIB).flatMap(hintsIn), ...notesHints()];

test('#15: the sources hold hints to check (the collector finds them)', (t) => {
  const commands = new Set(hints.map((h) => h.command));
  for (const known of [
    'tp connect --socks',
    'tp quit -s',
    'tp helm uninstall --manager-namespace NAMESPACE',
    'tp connect --manager-namespace dev',
  ])
    t.true(commands.has(known), known);
});

test("#15: every `tp …` command line in a hint parses with the CLI's own flags", async (t) => {
  const bad: string[] = [];
  for (const h of hints) {
    try {
      await dryProgram().parseAsync(words(h.command), { from: 'user' });
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      // A hint may name a command without its arguments ("run `tp leave` to end it"); it must
      // never name a command or flag that does not exist.
      if (code === 'commander.missingArgument' || code === 'commander.helpDisplayed' || code === 'commander.help') continue;
      bad.push(`${h.file}:${h.line}: \`${h.command}\`: ${(err as Error).message}`);
    }
  }
  t.deepEqual(bad, []);
});

test('#15: a hint naming a flag that does not exist is caught (the check can fail)', async (t) => {
  const err = await t.throwsAsync(dryProgram().parseAsync(words('tp helm uninstall --namespace tp-system'), { from: 'user' }));
  t.is((err as { code?: string }).code, 'commander.unknownOption');
});

test('#15: -o/--output and --debug are listed in the help of every command', (t) => {
  for (const c of allCommands(buildProgram())) {
    const help = c.helpInformation();
    t.regex(help, /-o, --output <format>/, c.name());
    t.regex(help, /--debug/, c.name());
  }
});
