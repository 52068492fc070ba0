// Executes parsed templates with text/template semantics: dot and `$`, variables scoped to their
// block, pipelines that pass the previous result as the last argument, maps ranged in sorted key
// order, missing map keys read as nil (Helm's `missingkey=zero`).

import { HelmError, templateError, type Pos } from '../errors.js';
import { goString, goType, isMap, truthy, type Value } from './gofmt.js';
import { parse, type Command, type Node, type Operand, type Pipe } from './parse.js';

export interface FuncCtx {
  pos: Pos;
  /** Render a `define`d template with the given dot (Helm's `include`). */
  include(name: string, data: Value): string;
}
export interface FuncDef {
  fn: (args: Value[], ctx: FuncCtx) => Value;
  min: number;
  max?: number; // undefined: same as min; Infinity: variadic
}
export type FuncMap = Record<string, FuncDef>;

/**
 * Nesting limit for include/template, so a self-including define fails with a clear message.
 * Helm allows 1000; each level costs a dozen JS frames, so we stop at 100, far beyond real charts.
 */
const MAX_DEPTH = 100;

export class TemplateSet {
  #files = new Map<string, Node[]>();
  #defines = new Map<string, { file: string; body: Node[] }>();
  constructor(readonly funcs: FuncMap) {}

  /** Parse one file; its `define`s become visible to every file of the set. */
  add(file: string, src: string): void {
    const parsed = parse(src, file, (n) => Object.hasOwn(this.funcs, n) || n === 'and' || n === 'or');
    this.#files.set(file, parsed.root);
    for (const [name, body] of parsed.defines) this.#defines.set(name, { file, body });
  }

  has(name: string): boolean { return this.#defines.has(name); }

  execute(file: string, data: Value): string {
    const root = this.#files.get(file);
    if (!root) throw new HelmError('E_HELM_TEMPLATE_EXEC', `template: no file ${JSON.stringify(file)}`);
    return this.run(file, root, data, 0);
  }

  executeNamed(name: string, data: Value, pos: Pos, depth = 0): string {
    const t = this.#defines.get(name);
    if (!t) throw templateError('E_HELM_TEMPLATE_EXEC', pos, `no template ${JSON.stringify(name)} associated with template`);
    if (depth >= MAX_DEPTH) throw templateError('E_HELM_TEMPLATE_EXEC', pos, `exceeded max template depth (${MAX_DEPTH}) in ${JSON.stringify(name)}`);
    return this.run(t.file, t.body, data, depth);
  }

  private run(file: string, nodes: Node[], data: Value, depth: number): string {
    const out: string[] = [];
    new Exec(this, file, data, depth).walk(nodes, data, out);
    return out.join('');
  }
}

type Signal = 'break' | 'continue' | undefined;
const NO_FINAL = Symbol('no final');

class Exec {
  #vars: { name: string; value: Value }[];
  constructor(readonly set: TemplateSet, readonly file: string, root: Value, readonly depth: number) {
    this.#vars = [{ name: '', value: root }];
  }

  walk(nodes: Node[], dot: Value, out: string[]): Signal {
    for (const n of nodes) {
      const sig = this.node(n, dot, out);
      if (sig) return sig;
    }
    return undefined;
  }

  node(n: Node, dot: Value, out: string[]): Signal {
    switch (n.t) {
      case 'text': out.push(n.text); return undefined;
      case 'action': {
        const v = this.pipe(n.pipe, dot);
        if (n.pipe.decl.length === 0) out.push(goString(v, true));
        return undefined;
      }
      case 'if': case 'with': {
        const mark = this.#vars.length;
        const v = this.pipe(n.pipe, dot);
        let sig: Signal;
        if (truthy(v)) sig = this.walk(n.list, n.t === 'with' ? v : dot, out);
        else if (n.elseList) sig = this.walk(n.elseList, dot, out);
        this.#vars.length = mark;
        return sig;
      }
      case 'range': return this.range(n, dot, out);
      case 'template': {
        const data = n.pipe ? this.pipe(n.pipe, dot) : null;
        out.push(this.set.executeNamed(n.name, data, n.pos, this.depth + 1));
        return undefined;
      }
      case 'break': case 'continue': return n.t;
    }
  }

  range(n: Extract<Node, { t: 'range' }>, dot: Value, out: string[]): Signal {
    const mark = this.#vars.length;
    // The declared variables belong to the loop, not to the pipeline's evaluation.
    const decl = n.pipe.decl;
    const v = this.pipe({ ...n.pipe, decl: [] }, dot);
    let items: [Value, Value][];
    if (v === null || v === undefined) items = [];
    else if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
    else if (isMap(v)) items = Object.keys(v).sort().map((k) => [k, v[k]]);
    else if (typeof v === 'number' && Number.isInteger(v)) items = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else throw this.err(n.pipe.pos, `range can't iterate over ${goString(v)}`);
    if (items.length === 0) {
      if (n.elseList) this.walk(n.elseList, dot, out);
      return undefined;
    }
    if (n.pipe.assign && decl.length) throw this.err(n.pipe.pos, 'range cannot assign to existing variables');
    for (const [key, elem] of items) {
      this.#vars.length = mark;
      if (decl.length === 1) this.#vars.push({ name: decl[0]!, value: elem });
      if (decl.length === 2) this.#vars.push({ name: decl[0]!, value: key }, { name: decl[1]!, value: elem });
      const sig = this.walk(n.list, elem, out);
      if (sig === 'break') break;
    }
    this.#vars.length = mark;
    return undefined;
  }

  pipe(p: Pipe, dot: Value): Value {
    let v: Value | typeof NO_FINAL = NO_FINAL;
    for (const cmd of p.cmds) v = this.command(cmd, dot, v, p.pos);
    if (p.decl.length) {
      if (p.assign) {
        for (const name of p.decl) {
          const slot = this.#find(name, p.pos);
          slot.value = v;
        }
      } else {
        for (const name of p.decl) this.#vars.push({ name, value: v });
      }
    }
    return v;
  }

  command(cmd: Command, dot: Value, final: Value | typeof NO_FINAL, pos: Pos): Value {
    const [first, ...rest] = cmd.args;
    const hasFinal = final !== NO_FINAL;
    switch (first!.t) {
      case 'ident':
        return this.call(first!.name, rest, dot, hasFinal ? [final] : [], pos);
      case 'field':
        return this.chain(dot, first!.chain, pos, rest, dot, hasFinal ? [final] : []);
      case 'var':
        return this.chain(this.#find(first!.name, pos).value, first!.chain, pos, rest, dot, hasFinal ? [final] : [],
          `$${first!.name}`);
      case 'sub':
        return this.chain(this.pipe(first!.pipe, dot), first!.chain, pos, rest, dot, hasFinal ? [final] : [], '(…)');
      default:
        if (rest.length || hasFinal) throw this.err(pos, `can't give argument to non-function ${describeOperand(first!)}`);
        return this.operand(first!, dot, pos);
    }
  }

  call(name: string, argOps: Operand[], dot: Value, extra: Value[], pos: Pos): Value {
    // and/or stop at the first operand that decides the result, like Go ≥ 1.18.
    if (name === 'and' || name === 'or') {
      const n = argOps.length + extra.length;
      if (n < 1) throw this.err(pos, `wrong number of args for ${name}: want at least 1 got 0`);
      let v: Value = null;
      for (let i = 0; i < n; i++) {
        v = i < argOps.length ? this.operand(argOps[i]!, dot, pos) : extra[i - argOps.length];
        if (truthy(v) !== (name === 'and')) return v;
      }
      return v;
    }
    const def = Object.hasOwn(this.set.funcs, name) ? this.set.funcs[name] : undefined;
    if (!def) throw this.err(pos, `function "${name}" not defined`);
    const args = [...argOps.map((a) => this.operand(a, dot, pos)), ...extra];
    const max = def.max ?? def.min;
    if (args.length < def.min || args.length > max) {
      const want = max === def.min ? `${def.min}` : max === Infinity ? `at least ${def.min}` : `${def.min}..${max}`;
      throw this.err(pos, `wrong number of args for ${name}: want ${want} got ${args.length}`);
    }
    const ctx: FuncCtx = {
      pos,
      include: (tname, data) => this.set.executeNamed(tname, data, pos, this.depth + 1),
    };
    try {
      return def.fn(args, ctx);
    } catch (e) {
      if (e instanceof HelmError) throw e;
      throw this.err(pos, `error calling ${name}: ${(e as Error).message}`, e);
    }
  }

  /** An operand in argument position. A bare function name is called without arguments, as Go does. */
  operand(op: Operand, dot: Value, pos: Pos): Value {
    switch (op.t) {
      case 'dot': return dot;
      case 'lit': return op.value;
      case 'field': return this.chain(dot, op.chain, pos, [], dot, []);
      case 'var': return this.chain(this.#find(op.name, pos).value, op.chain, pos, [], dot, [], `$${op.name}`);
      case 'sub': return this.chain(this.pipe(op.pipe, dot), op.chain, pos, [], dot, [], '(…)');
      case 'ident': return this.call(op.name, [], dot, [], pos);
    }
  }

  /** Walk `.a.b.c` from `recv`; a function found at the end is a method and takes the arguments. */
  chain(recv: Value, chain: string[], pos: Pos, argOps: Operand[], dot: Value, extra: Value[], base = ''): Value {
    let v = recv;
    let path = base;
    for (let i = 0; i < chain.length; i++) {
      const name = chain[i]!;
      const last = i === chain.length - 1;
      if (v === null || v === undefined) throw this.err(pos, `nil pointer evaluating interface {}.${name}`);
      if (!isMap(v)) throw this.err(pos, `can't evaluate field ${name} in type ${goType(v)}`);
      v = Object.hasOwn(v, name) ? v[name] : null;
      path += `.${name}`;
      if (typeof v === 'function') {
        const args = last ? [...argOps.map((a) => this.operand(a, dot, pos)), ...extra] : [];
        try {
          v = (v as (...a: Value[]) => Value)(...args);
        } catch (e) {
          throw this.err(pos, `error calling ${name}: ${(e as Error).message}`, e);
        }
        if (last) return v;
      }
    }
    if (argOps.length || extra.length) {
      throw this.err(pos, `can't give argument to non-function ${path || '.'}`);
    }
    return v;
  }

  #find(name: string, pos: Pos): { name: string; value: Value } {
    for (let i = this.#vars.length - 1; i >= 0; i--) if (this.#vars[i]!.name === name) return this.#vars[i]!;
    throw templateError('E_HELM_TEMPLATE_EXEC', pos, `undefined variable "$${name}"`);
  }

  err(pos: Pos, msg: string, cause?: unknown): HelmError {
    return templateError('E_HELM_TEMPLATE_EXEC', pos, `executing ${JSON.stringify(this.file)}: ${msg}`, cause);
  }
}

function describeOperand(op: Operand): string {
  switch (op.t) {
    case 'lit': return goString(op.value);
    case 'dot': return '.';
    default: return op.t;
  }
}
