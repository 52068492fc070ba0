// Parser: tokens → a tree per file, plus the `define`d templates it declares. Function names are
// checked here, as Go does at parse time, so a typo fails `tp helm install` before any rendering.

import { templateError, type Pos } from '../errors.js';
import { lex, type Tok } from './lex.js';

export type Operand =
  | { t: 'dot' }
  | { t: 'field'; chain: string[] }                      // .a.b  (evaluated on dot)
  | { t: 'var'; name: string; chain: string[] }          // $x.a.b ; name '' is `$`
  | { t: 'ident'; name: string }                         // a function
  | { t: 'lit'; value: string | number | boolean | null }
  | { t: 'sub'; pipe: Pipe; chain: string[] };           // (pipeline).a.b

export interface Command { args: Operand[] }
export interface Pipe {
  pos: Pos;
  decl: string[];      // variables declared (`:=`) or assigned (`=`)
  assign: boolean;
  cmds: Command[];
}

export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipe }
  | { t: 'if' | 'with'; pipe: Pipe; list: Node[]; elseList: Node[] | null }
  | { t: 'range'; pipe: Pipe; list: Node[]; elseList: Node[] | null }
  | { t: 'template'; pos: Pos; name: string; pipe: Pipe | null }
  | { t: 'break' | 'continue'; pos: Pos };

export interface Parsed {
  root: Node[];
  defines: Map<string, Node[]>;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block',
  'break', 'continue']);

type Stop = 'end' | 'else' | 'eof';

export function parse(src: string, file: string, isFunc: (name: string) => boolean): Parsed {
  return new Parser(lex(src, file), file, isFunc).parseFile();
}

class Parser {
  #i = 0;
  #defines = new Map<string, Node[]>();
  #loopDepth = 0;
  /** Variables in scope, checked at parse time like Go does; '' is `$`. */
  #vars: string[] = [''];
  constructor(readonly toks: Tok[], readonly file: string, readonly isFunc: (n: string) => boolean) {}

  parseFile(): Parsed {
    const { list, stop } = this.list(true);
    if (stop.kind !== 'eof') throw this.err(`unexpected {{${stop.kind}}}`, stop.line);
    return { root: list, defines: this.#defines };
  }

  err(msg: string, line = this.peek().line): Error {
    return templateError('E_HELM_TEMPLATE_PARSE', { file: this.file, line }, msg);
  }
  peek(): Tok { return this.toks[this.#i]!; }
  next(): Tok { return this.toks[this.#i++]!; }
  peekNonSpace(): Tok {
    let k = this.#i;
    while (this.toks[k]!.kind === 'space') k++;
    return this.toks[k]!;
  }
  nextNonSpace(): Tok {
    let t = this.next();
    while (t.kind === 'space') t = this.next();
    return t;
  }
  expect(kind: Tok['kind'], ctx: string): Tok {
    const t = this.nextNonSpace();
    if (t.kind !== kind) throw this.err(`unexpected ${describe(t)} in ${ctx}`, t.line);
    return t;
  }

  /** Nodes up to `{{end}}`, `{{else…}}` or EOF; the stopping keyword's action is left after `else`. */
  list(top: boolean): { list: Node[]; stop: { kind: Stop; line: number } } {
    const list: Node[] = [];
    for (;;) {
      const t = this.next();
      if (t.kind === 'eof') return { list, stop: { kind: 'eof', line: t.line } };
      if (t.kind === 'text') { list.push({ t: 'text', text: t.val }); continue; }
      // t is 'open'
      const k = this.peekNonSpace();
      const pos = { file: this.file, line: k.line };
      if (k.kind === 'ident' && KEYWORDS.has(k.val)) {
        this.nextNonSpace();
        switch (k.val) {
          case 'end':
            this.expect('close', 'end');
            return { list, stop: { kind: 'end', line: k.line } };
          case 'else':
            return { list, stop: { kind: 'else', line: k.line } };
          case 'if': case 'with': case 'range':
            list.push(this.control(k.val, pos));
            continue;
          case 'define': {
            if (!top) throw this.err('define inside a control structure', k.line);
            const name = this.expect('string', 'define').val;
            this.expect('close', 'define');
            const outer = this.#vars;
            this.#vars = [''];
            const body = this.list(false);
            this.#vars = outer;
            if (body.stop.kind !== 'end') throw this.err(`unexpected ${body.stop.kind} in define`, body.stop.line);
            this.#defines.set(name, body.list);
            continue;
          }
          case 'template': case 'block': {
            const name = this.expect('string', k.val).val;
            const pipe = this.peekNonSpace().kind === 'close' ? null : this.pipeline(pos, false);
            this.expect('close', k.val);
            if (k.val === 'block') {
              const body = this.list(false);
              if (body.stop.kind !== 'end') throw this.err('unexpected else in block', body.stop.line);
              this.#defines.set(name, body.list);
            }
            list.push({ t: 'template', pos, name, pipe });
            continue;
          }
          case 'break': case 'continue':
            if (this.#loopDepth === 0) throw this.err(`{{${k.val}}} outside {{range}}`, k.line);
            this.expect('close', k.val);
            list.push({ t: k.val, pos });
            continue;
        }
      }
      const pipe = this.pipeline(pos, true);
      this.expect('close', 'command');
      list.push({ t: 'action', pipe });
    }
  }

  control(kind: 'if' | 'with' | 'range', pos: Pos): Node {
    const mark = this.#vars.length;
    try {
      return this.controlBody(kind, pos);
    } finally {
      this.#vars.length = mark;
    }
  }

  controlBody(kind: 'if' | 'with' | 'range', pos: Pos): Node {
    const pipe = this.pipeline(pos, true, kind === 'range');
    this.expect('close', kind);
    if (kind === 'range') this.#loopDepth++;
    const body = this.list(false);
    if (kind === 'range') this.#loopDepth--;
    let elseList: Node[] | null = null;
    if (body.stop.kind === 'else') {
      const after = this.peekNonSpace();
      // `else if …` / `else with …` chain: parse as a nested control in the else branch, which then
      // consumes the one shared {{end}}.
      if (after.kind === 'ident' && (after.val === 'if' || after.val === 'with') && kind !== 'range') {
        this.nextNonSpace();
        elseList = [this.control(after.val, { file: this.file, line: after.line })];
        return { t: kind, pipe, list: body.list, elseList };
      }
      this.expect('close', 'else');
      const rest = this.list(false);
      if (rest.stop.kind !== 'end') throw this.err(`expected end; found ${rest.stop.kind}`, rest.stop.line);
      elseList = rest.list;
    } else if (body.stop.kind !== 'end') {
      throw this.err(`unexpected EOF: {{${kind}}} has no {{end}}`, pos.line);
    }
    return kind === 'range'
      ? { t: 'range', pipe, list: body.list, elseList }
      : { t: kind, pipe, list: body.list, elseList };
  }

  /** A pipeline up to `}}` or `)`, with an optional `$x :=` / `$i, $v :=` / `$x =` head. */
  pipeline(pos: Pos, allowDecl: boolean, twoVars = false): Pipe {
    const pipe: Pipe = { pos, decl: [], assign: false, cmds: [] };
    if (allowDecl) this.declarations(pipe, twoVars);
    for (;;) {
      const cmd = this.command();
      pipe.cmds.push(cmd);
      const t = this.peekNonSpace();
      if (t.kind === 'pipe') { this.nextNonSpace(); continue; }
      if (t.kind === 'close' || t.kind === 'rparen') break;
      throw this.err(`unexpected ${describe(t)} in operand`, t.line);
    }
    if (pipe.cmds.length === 0) throw this.err('missing value for command', pos.line);
    if (pipe.assign) for (const v of pipe.decl) this.checkVar(v, pos.line);
    else this.#vars.push(...pipe.decl);
    return pipe;
  }

  declarations(pipe: Pipe, twoVars: boolean): void {
    const save = this.#i;
    const names: string[] = [];
    for (;;) {
      const v = this.nextNonSpace();
      if (v.kind !== 'var') { this.#i = save; return; }
      names.push(v.val);
      const op = this.nextNonSpace();
      if (op.kind === 'comma' && twoVars && names.length === 1) continue;
      if (op.kind === 'declare' || op.kind === 'assign') {
        pipe.decl = names;
        pipe.assign = op.kind === 'assign';
        return;
      }
      this.#i = save;
      return;
    }
  }

  command(): Command {
    const args: Operand[] = [];
    for (;;) {
      const t = this.peekNonSpace();
      if (t.kind === 'close' || t.kind === 'rparen' || t.kind === 'pipe') break;
      if (args.length > 0 && this.peek().kind !== 'space') throw this.err(`missing space before ${describe(t)}`, t.line);
      args.push(this.operand());
    }
    if (args.length === 0) throw this.err('missing value for command');
    return { args };
  }

  operand(): Operand {
    const t = this.nextNonSpace();
    switch (t.kind) {
      case 'dot': return { t: 'dot' };
      case 'field': return { t: 'field', chain: [t.val, ...this.chain()] };
      case 'var':
        this.checkVar(t.val, t.line);
        return { t: 'var', name: t.val, chain: this.chain() };
      case 'string': return { t: 'lit', value: t.val };
      case 'number': return { t: 'lit', value: t.num! };
      case 'lparen': {
        const pipe = this.pipeline({ file: this.file, line: t.line }, true);
        this.expect('rparen', 'parenthesized pipeline');
        return { t: 'sub', pipe, chain: this.chain() };
      }
      case 'ident':
        if (t.val === 'true' || t.val === 'false') return { t: 'lit', value: t.val === 'true' };
        if (t.val === 'nil') return { t: 'lit', value: null };
        if (KEYWORDS.has(t.val)) throw this.err(`unexpected <${t.val}> in command`, t.line);
        if (!this.isFunc(t.val)) throw this.err(`function "${t.val}" not defined`, t.line);
        return { t: 'ident', name: t.val };
      default:
        throw this.err(`unexpected ${describe(t)} in command`, t.line);
    }
  }

  checkVar(name: string, line: number): void {
    if (!this.#vars.includes(name)) throw this.err(`undefined variable "$${name}"`, line);
  }

  /** Field names glued to the previous operand (`$x.a.b`, `(…).a`). */
  chain(): string[] {
    const out: string[] = [];
    while (this.peek().kind === 'field') out.push(this.next().val);
    return out;
  }
}

function describe(t: Tok): string {
  switch (t.kind) {
    case 'close': return '"}}"';
    case 'eof': return 'EOF';
    case 'field': return `<.${t.val}>`;
    case 'var': return `<$${t.val}>`;
    default: return `<${t.val}>`;
  }
}
