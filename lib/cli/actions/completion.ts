// `tp completion bash|zsh|fish`: a completion script generated from the command tree itself, so
// it can never offer a command or flag tp does not have. It completes command names, flags (per
// command, globals included), and the values of --output; everything else falls back to file
// names (kubeconfigs, env files, mount points).
import type { Command, Option } from 'commander';
import { rootOf } from '../lazy.js';
import { CliError } from '../output.js';

interface Node {
  /** "helm install"; "" for tp itself. */
  path: string;
  subcommands: Array<{ name: string; about: string }>;
  options: Option[];
}

/** Every command path with its subcommands and flags (the root's global flags count everywhere). */
export function completionTree(program: Command): Node[] {
  const globals = program.options as readonly Option[];
  const out: Node[] = [];
  const walk = (cmd: Command, path: string) => {
    const own = cmd.options as readonly Option[];
    out.push({
      path,
      subcommands: cmd.commands
        .filter((c) => !(c as Command & { _hidden?: boolean })._hidden)
        .map((c) => ({ name: c.name(), about: c.description() })),
      options: cmd === program ? [...own] : [...own, ...globals.filter((g) => !own.some((o) => o.long === g.long))],
    });
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

const flagsOf = (n: Node) => n.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
const wordsOf = (n: Node) => [...n.subcommands.map((s) => s.name), ...flagsOf(n), '--help'];
/** Single quotes for shell words (none of ours contain one, but descriptions do). */
const sq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export function bashScript(program: Command): string {
  const nodes = completionTree(program);
  const paths = nodes
    .filter((n) => n.path)
    .map((n) => n.path.replaceAll(' ', '\\ '))
    .join('|');
  const cases = nodes.map((n) => `    ${n.path ? sq(n.path) : '""'}) words=${sq(wordsOf(n).join(' '))} ;;`).join('\n');
  return `# tp completion for bash. Load it with: source <(tp completion bash)
_tp_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmdpath="" w i words=""
  if [[ "$prev" == "-o" || "$prev" == "--output" ]]; then
    COMPREPLY=( $(compgen -W "json yaml" -- "$cur") ); return
  fi
  for ((i=1; i<COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${cmdpath:+$cmdpath }$w" in
      ${paths}) cmdpath="\${cmdpath:+$cmdpath }$w" ;;
    esac
  done
  case "$cmdpath" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _tp_complete tp
`;
}

export function zshScript(program: Command): string {
  const nodes = completionTree(program);
  const paths = nodes
    .filter((n) => n.path)
    .map((n) => n.path.replaceAll(' ', '\\ '))
    .join('|');
  const cases = nodes.map((n) => `    (${n.path ? sq(n.path) : '""'}) cands=(${wordsOf(n).join(' ')}) ;;`).join('\n');
  return `#compdef tp
# tp completion for zsh. Load it with: source <(tp completion zsh)  (after compinit)
_tp() {
  local cmdpath="" w i
  local -a cands
  if [[ "\${words[CURRENT-1]}" == (-o|--output) ]]; then
    compadd -- json yaml; return
  fi
  for ((i=2; i<CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    case "\${cmdpath:+$cmdpath }$w" in
      (${paths}) cmdpath="\${cmdpath:+$cmdpath }$w" ;;
    esac
  done
  case "$cmdpath" in
${cases}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- \${(M)cands:#-*}
  else
    compadd -- \${cands:#-*}
    _files
  fi
}
compdef _tp tp
`;
}

export function fishScript(program: Command): string {
  const nodes = completionTree(program);
  const lines = ['# tp completion for fish. Load it with: tp completion fish | source', 'complete -c tp -f'];
  for (const n of nodes) {
    const parts = n.path ? n.path.split(' ') : [];
    const siblings = n.subcommands.map((s) => s.name).join(' ');
    // In this command (all its path seen) and not yet in one of its subcommands.
    const cond = [
      ...(parts.length === 0 ? ['__fish_use_subcommand'] : parts.map((p) => `__fish_seen_subcommand_from ${p}`)),
      ...(parts.length > 0 && siblings ? [`not __fish_seen_subcommand_from ${siblings}`] : []),
    ].join('; and ');
    for (const s of n.subcommands) lines.push(`complete -c tp -n ${sq(cond)} -a ${s.name} -d ${sq(s.about.slice(0, 80))}`);
    const optCond = parts.length === 0 ? '__fish_use_subcommand' : parts.map((p) => `__fish_seen_subcommand_from ${p}`).join('; and ');
    for (const o of n.options) {
      const flags = [o.short ? `-s ${o.short.slice(1)}` : '', o.long ? `-l ${o.long.slice(2)}` : ''].filter(Boolean).join(' ');
      const value = o.long === '--output' ? "-x -a 'json yaml'" : o.required || o.optional ? '-r -F' : '';
      lines.push(`complete -c tp -n ${sq(optCond)} ${flags} ${value} -d ${sq(o.description.slice(0, 80))}`.replace(/ +/g, ' '));
    }
  }
  return lines.join('\n') + '\n';
}

export function completion(shell: string, _o: unknown, cmd: Command): void {
  const gen = { bash: bashScript, zsh: zshScript, fish: fishScript }[shell];
  if (!gen)
    throw new CliError(
      'E_FLAG',
      `tp completion knows bash, zsh and fish, not "${shell}"`,
      'run `tp completion bash`, `tp completion zsh` or `tp completion fish`',
    );
  process.stdout.write(gen(rootOf(cmd)));
}
