/**
 * The Python → Starlark compiler proper: classifies the top-level statements (imports, @task and
 * @workflow defs, helpers, constants, the `__main__` block), compiles the workflows and what they
 * reach, declares the tasks, and reports every construct Starlark lacks with its .py position.
 */
import type { Arg, Block, Expr, FuncDef, Param, Pos, Stmt, StrPiece } from './ast.js';
import { Problem, type PythonProblem } from './errors.js';
import { isTaskDecorator, Parser, type TopItem } from './parser.js';
import { plainValue, starlarkLiteral } from './strings.js';
import { Writer } from './writer.js';

export interface CompileOptions {
  readonly module?: string;
  readonly allowWhile?: boolean;
  /** Also compile the top-level `test_*` functions (for `larkflow test --workflows`). */
  readonly tests?: boolean;
}

export interface CompileResult {
  readonly starlark: string;
  readonly workflows: string[];
  readonly tasks: { name: string; function: string; line: number }[];
  readonly defaults: { workflow?: string; kwargs: Record<string, unknown>; env: Record<string, string> };
  readonly problems: PythonProblem[];
}

/** What an imported name is bound to. */
type Binding =
  | { readonly kind: 'uf-module'; readonly module: string }
  | { readonly kind: 'uf-name'; readonly name: string; readonly module: string }
  | { readonly kind: 'library'; readonly module: string; readonly imported?: string };

/** Uniflow/larkflow names usable in workflow code, and their Starlark spelling. */
const UF_NAMES: Record<string, string> = {
  run: 'run',
  batch_run: 'batch_run',
  new_callable: 'new_callable',
  RayTask: 'RayTask',
  SparkTask: 'SparkTask',
  KubernetesTask: 'KubernetesTask',
  RetryPolicy: 'RetryPolicy',
  time: '__uf_time.time',
  time_ns: '__uf_time.time_ns',
  sleep: '__uf_time.sleep',
  utc_format_seconds: '__uf_time.utc_format_seconds',
};
const TIME_NAMES = new Set(['time', 'time_ns', 'sleep', 'utc_format_seconds']);

/** Python identifiers that Starlark reserves. */
const RENAME: Record<string, string> = { load: 'load_' };

/** Modules of Uniflow/Michelangelo (and larkflow): their names are known, or "not supported yet", never a library. */
const isUniflowModule = (m: string): boolean => /^(michelangelo|uniflow|larkflow)(\.|$)/.test(m);

interface Scope {
  readonly locals: Set<string>;
  readonly parent?: Scope;
}

type TopKind =
  | { kind: 'task'; def: FuncDef }
  | { kind: 'workflow'; def: FuncDef }
  | { kind: 'helper'; def: FuncDef }
  | { kind: 'const'; stmt: Stmt; names: string[] }
  | { kind: 'broken'; error: Problem; names: readonly string[] }
  | { kind: 'unsupported'; keyword: string; line: number; col: number; names: readonly string[] }
  | { kind: 'import'; stmt: Stmt }
  | { kind: 'main'; stmt: Stmt }
  | { kind: 'other' };

interface Entry {
  readonly item: TopItem;
  readonly top: TopKind;
  readonly line: number;
  out?: Writer;
}

const UNSUPPORTED_HINTS: Record<string, [string, string | undefined]> = {
  try: ['try statements are not supported in workflow code', 'a failing task fails the workflow; retries go in @task(retry_attempts=N); to recover, check values with if'],
  with: ['with statements are not supported in workflow code', 'move the resource handling into a @task function'],
  class: ['classes are not supported in workflow code', 'use dicts or struct(...) for records, or move the class into task code'],
  raise: ['raise is not supported in workflow code', 'use fail("message")'],
  global: ['global is not supported in workflow code', 'return the new value instead of assigning a global'],
  nonlocal: ['nonlocal is not supported in workflow code', 'return the new value instead of assigning an outer variable'],
  assert: ['assert is not supported in workflow code', 'use: if not condition: fail("message")'],
  del: ['del is not supported in workflow code', 'use d.pop(key) for dict entries, or leave the variable unused'],
  async: ['async is not supported in workflow code', 'use run(task, ...) and batch_run([...]) for concurrency'],
  match: ['match statements are not supported in workflow code', 'use if/elif/else'],
};

export function compileModule(text: string, file: string, options: CompileOptions): CompileResult {
  return new Compiler(text, file, options).compile();
}

class Compiler {
  private readonly problems: PythonProblem[] = [];
  private readonly bindings = new Map<string, Binding>();
  private readonly entries: Entry[] = [];
  /** Top-level names → the entries defining them. */
  private readonly defs = new Map<string, Entry[]>();
  private readonly queue: Entry[] = [];
  private readonly emitted = new Set<Entry>();
  private readonly module: string;
  private usesTime = false;
  private timeImportLine = 0;
  private firstImportLine = 0;
  private tmp = 0;
  /** Edges of the call graph among compiled top-level functions (for the recursion check). */
  private readonly edges = new Map<string, Map<string, Pos>>();
  private currentFn: string | undefined;
  private readonly tasks: { name: string; function: string; line: number }[] = [];
  private readonly workflows: string[] = [];
  private readonly defaults: { workflow?: string; kwargs: Record<string, unknown>; env: Record<string, string> } = { kwargs: {}, env: {} };

  constructor(
    private readonly text: string,
    file: string,
    private readonly options: CompileOptions,
  ) {
    const base = file.split(/[\\/]/).pop()!;
    this.module = options.module ?? base.replace(/\.py$/, '');
  }

  private problem(message: string, pos: Pos, hint?: string): void {
    this.problems.push({ message, line: pos.line, column: pos.col, ...(hint ? { hint } : {}) });
  }

  compile(): CompileResult {
    let items: TopItem[];
    try {
      items = Parser.forText(this.text).parser.parseModule();
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      return { starlark: '', workflows: [], tasks: [], defaults: this.defaults, problems: [e.toProblem()] };
    }
    for (const item of items) this.classify(item);
    for (const e of this.entries) {
      if (e.top.kind === 'workflow' || e.top.kind === 'task' || (this.options.tests && e.top.kind === 'helper' && (e.top.def as { name: string }).name.startsWith('test_'))) this.enqueue(e);
    }
    while (this.queue.length > 0) this.emitEntry(this.queue.shift()!);
    this.checkRecursion();
    return { starlark: this.assemble(), workflows: this.workflows, tasks: this.tasks, defaults: this.defaults, problems: this.problems };
  }

  // ---- classification
  private classify(item: TopItem): void {
    let top: TopKind;
    let names: readonly string[] = [];
    let line: number;
    if (item.kind === 'error') {
      top = { kind: 'broken', error: item.error, names: item.names };
      names = item.names;
      line = item.line;
    } else {
      const s = item.stmt;
      line = s.line;
      switch (s.kind) {
        case 'Import':
        case 'ImportFrom':
          top = { kind: 'import', stmt: s };
          this.bindImport(s);
          break;
        case 'Def': {
          const d = s.def;
          line = d.decorators[0]?.line ?? d.line;
          if (d.decorators.some((x) => isTaskDecorator(x.expr))) top = { kind: 'task', def: d };
          else if (d.decorators.some((x) => this.isWorkflowDecorator(x.expr))) top = { kind: 'workflow', def: d };
          else top = { kind: 'helper', def: d };
          names = [d.name];
          break;
        }
        case 'Assign':
        case 'AnnAssign': {
          const ns: string[] = [];
          const targets = s.kind === 'Assign' ? s.targets : [s.target];
          for (const t of targets) collectTargetNames(t, ns);
          top = s.kind === 'AnnAssign' && !s.value ? { kind: 'other' } : { kind: 'const', stmt: s, names: ns };
          names = ns;
          break;
        }
        case 'If':
          top = isMainGuard(s.test) ? { kind: 'main', stmt: s } : { kind: 'other' };
          break;
        case 'Unsupported':
          top = { kind: 'unsupported', keyword: s.keyword, line: s.line, col: s.col, names: s.names };
          names = s.names;
          break;
        default:
          top = { kind: 'other' };
      }
    }
    const entry: Entry = { item, top, line };
    this.entries.push(entry);
    for (const n of names) {
      const list = this.defs.get(n) ?? [];
      list.push(entry);
      this.defs.set(n, list);
    }
    if (top.kind === 'main') this.scanMain((top.stmt as Stmt & { kind: 'If' }).body.stmts);
  }

  private bindImport(s: Stmt & { kind: 'Import' | 'ImportFrom' }): void {
    if (this.firstImportLine === 0) this.firstImportLine = s.line;
    if (s.kind === 'Import') {
      for (const n of s.names) {
        const name = n.asname ?? n.module.split('.')[0]!;
        const module = n.asname ? n.module : name;
        this.bindings.set(name, isUniflowModule(n.module) ? { kind: 'uf-module', module } : { kind: 'library', module: n.module });
      }
      return;
    }
    for (const n of s.names) {
      if (n.name === '*') continue;
      const name = n.asname ?? n.name;
      if (!isUniflowModule(s.module)) {
        this.bindings.set(name, { kind: 'library', module: s.module, imported: n.name });
        continue;
      }
      // `from michelangelo.uniflow.core.lib import concurrent`: a module of names.
      if (n.name === 'concurrent' || (n.name === 'time' && /\.lib$/.test(s.module)) || n.name === 'core' || n.name === 'uniflow') {
        this.bindings.set(name, { kind: 'uf-module', module: `${s.module}.${n.name}` });
        continue;
      }
      if (TIME_NAMES.has(n.name) && this.timeImportLine === 0) this.timeImportLine = s.line;
      this.bindings.set(name, { kind: 'uf-name', name: n.name, module: s.module });
    }
  }

  private isWorkflowDecorator(e: Expr): boolean {
    const f = e.kind === 'Call' ? e.func : e;
    return (f.kind === 'Name' && f.id === 'workflow') || (f.kind === 'Attr' && f.attr === 'workflow');
  }

  private enqueue(e: Entry): void {
    if (this.emitted.has(e)) return;
    this.emitted.add(e);
    this.queue.push(e);
  }

  // ---- the __main__ block
  private scanMain(stmts: readonly Stmt[]): void {
    const ctxVars = new Set<string>();
    const walk = (list: readonly Stmt[]): void => {
      for (const s of list) {
        if (s.kind === 'If') {
          walk(s.body.stmts);
          if (s.orelse) walk(s.orelse.stmts);
        } else if (s.kind === 'Assign' && s.targets.length === 1) {
          const t = s.targets[0]!;
          const v = s.value;
          if (t.kind === 'Name' && v.kind === 'Call' && ((v.func.kind === 'Attr' && v.func.attr === 'create_context') || (v.func.kind === 'Name' && v.func.id === 'create_context'))) {
            ctxVars.add(t.id);
          } else if (t.kind === 'Subscript' && t.value.kind === 'Attr' && t.value.attr === 'environ' && t.value.value.kind === 'Name' && ctxVars.has(t.value.value.id)) {
            const k = constValue(t.index);
            const val = constValue(v);
            if (k.ok && typeof k.value === 'string' && val.ok && typeof val.value === 'string') this.defaults.env[k.value] = val.value;
          }
        } else if (s.kind === 'Expr' && s.value.kind === 'Call') {
          const c = s.value;
          if (c.func.kind === 'Attr' && c.func.attr === 'run' && c.func.value.kind === 'Name' && ctxVars.has(c.func.value.id)) {
            const first = c.args[0];
            if (first?.kind === 'pos' && first.value.kind === 'Name') this.defaults.workflow = first.value.id;
            for (const a of c.args) {
              if (a.kind !== 'kw') continue;
              const v = constValue(a.value);
              if (v.ok) this.defaults.kwargs[a.name] = v.value;
            }
          }
        }
      }
    };
    walk(stmts);
  }

  // ---- emission of top-level entries
  private emitEntry(e: Entry): void {
    const top = e.top;
    switch (top.kind) {
      case 'task':
        return this.emitTask(e, top.def);
      case 'workflow':
      case 'helper':
        return this.emitFunction(e, top.def, top.kind === 'workflow');
      case 'const': {
        const w = new Writer(e.line);
        e.out = w;
        this.stmt(w, top.stmt, 0, { locals: new Set() }, true);
        return;
      }
      default:
        return;
    }
  }

  private emitTask(e: Entry, def: FuncDef): void {
    const w = new Writer(def.line);
    e.out = w;
    w.stmt(def.line, 0);
    const dec = def.decorators.find((d) => isTaskDecorator(d.expr))!;
    const callee = dec.expr.kind === 'Call' ? dec.expr.func : dec.expr;
    let base: Expr = callee;
    while (base.kind === 'Attr') base = base.value;
    const origin = base.kind === 'Name' ? this.bindings.get(base.id) : undefined;
    const foreign = callee.kind === 'Attr' ? origin?.kind !== 'uf-module' : origin !== undefined && origin.kind !== 'uf-name';
    if (foreign) {
      const what = callee.kind === 'Attr' && base.kind === 'Name' ? `${base.id}.task` : 'task';
      this.problem(`@${what} is not Uniflow's task decorator${origin ? ` (it comes from ${origin.module})` : ''}`, dec, 'use @uniflow.task(...) from michelangelo.uniflow.core, or from larkflow import task');
    }
    for (const d of def.decorators) if (d !== dec) this.problem('decorators other than @task/@workflow are not supported', d, 'remove the decorator; task functions run as Python, but their declaration is compiled');
    let name = def.name;
    const opts: [string, Expr][] = [];
    const scope: Scope = { locals: new Set() };
    if (dec.expr.kind === 'Call') {
      for (const a of dec.expr.args) {
        if (a.kind !== 'kw') {
          this.problem('@task options must be keyword arguments', a.value);
          continue;
        }
        switch (a.name) {
          case 'alias': {
            const v = constValue(a.value);
            if (!v.ok || typeof v.value !== 'string') this.problem('alias= must be a string constant', a.pos);
            else name = v.value;
            break;
          }
          case 'config':
            opts.push(['config', a.value]);
            break;
          case 'cache_enabled':
            opts.push(['cache', a.value]);
            break;
          case 'cache_version':
            opts.push(['cache_version', a.value]);
            break;
          case 'retry_attempts':
            opts.push(['retries', a.value]);
            break;
          default:
            this.problem(`not supported yet: ${a.name}= (Uniflow's @task ${a.name} option)`, a.pos, 'remove the option; supported: config, cache_enabled, cache_version, retry_attempts, alias');
        }
      }
    }
    const ref = `${this.module}:${def.name}`;
    this.tasks.push({ name, function: ref, line: def.line });
    this.currentFn = undefined;
    w.write(`${this.rename(def.name)} = task(${starlarkLiteral(name)}, function = ${starlarkLiteral(ref)}`);
    w.depth++;
    for (const [k, v] of opts) {
      w.write(`, ${k} = `);
      this.expr(w, v, scope);
    }
    w.depth--;
    w.write(')');
  }

  private emitFunction(e: Entry, def: FuncDef, workflow: boolean): void {
    const w = new Writer(e.line);
    e.out = w;
    if (workflow) this.workflows.push(def.name);
    for (const d of def.decorators) {
      if (this.isWorkflowDecorator(d.expr)) {
        w.stmt(d.line, 0);
        w.write('@workflow()');
      } else this.problem('decorators other than @task/@workflow are not supported in workflow code', d, 'remove the decorator');
    }
    this.currentFn = def.name;
    this.def(w, def, 0, { locals: new Set() });
    this.currentFn = undefined;
  }

  private def(w: Writer, def: FuncDef, indent: number, outer: Scope): void {
    if (def.async) this.problem('async functions are not supported in workflow code', def, UNSUPPORTED_HINTS['async']![1]);
    if (def.bodyError) {
      this.problems.push({ message: def.bodyError.message, line: def.bodyError.line, column: def.bodyError.col, ...(def.bodyError.hint ? { hint: def.bodyError.hint } : {}) });
      return;
    }
    const body = def.body!;
    this.fnDepth++;
    try {
      this.defBody(w, def, body, indent, outer);
    } finally {
      this.fnDepth--;
    }
  }

  private defBody(w: Writer, def: FuncDef, body: Block, indent: number, outer: Scope): void {
    const locals = new Set<string>();
    for (const p of def.params) if (p.kind !== 'kwmarker' && p.kind !== 'posmarker') locals.add(p.name);
    collectBlockLocals(body, locals);
    const scope: Scope = { locals, parent: outer };
    w.stmt(def.line, indent);
    w.write(`def ${this.rename(def.name)}`);
    w.open('(');
    // Defaults are evaluated where the def is, not in its body.
    this.fnDepth--;
    this.params(w, def.params, outer);
    this.fnDepth++;
    w.close(')');
    w.colon();
    this.block(w, body, indent + 1, scope, def.line);
  }

  private params(w: Writer, params: readonly Param[], defaultsScope: Scope): void {
    params.forEach((p, k) => {
      if (k > 0) w.write(', ');
      w.at(p.pos.line);
      switch (p.kind) {
        case 'posmarker':
          this.problem('positional-only parameters (/) are not supported in workflow code', p.pos, 'remove the /');
          return;
        case 'kwmarker':
          w.write('*');
          return;
        case 'star':
          w.write(`*${this.rename(p.name)}`);
          return;
        case 'dstar':
          w.write(`**${this.rename(p.name)}`);
          return;
        default:
          w.write(this.rename(p.name));
          if (p.default) {
            w.write(' = ');
            this.expr(w, p.default, defaultsScope);
          }
      }
    });
  }

  // ---- statements
  private block(w: Writer, b: Block, indent: number, scope: Scope, headerLine: number): void {
    const before = w.lines.length;
    const beforeText = w.lines[w.lines.length - 1]!;
    b.stmts.forEach((s, k) => {
      // A docstring (or any bare string) is dropped.
      if (s.kind === 'Expr' && s.value.kind === 'Str' && !(k === 0 && false)) return;
      this.stmt(w, s, indent, scope, false);
    });
    if (w.lines.length === before && w.lines[w.lines.length - 1] === beforeText) {
      // Nothing was emitted (only docstrings): `pass` on the first statement's line.
      const first = b.stmts[0];
      w.stmt(first ? first.line : headerLine, indent);
      w.write('pass');
    }
  }

  private stmt(w: Writer, s: Stmt, indent: number, scope: Scope, top: boolean): void {
    switch (s.kind) {
      case 'Expr':
        if (s.value.kind === 'Str') return;
        w.stmt(s.line, indent);
        if (s.value.kind === 'Const' && s.value.value === '...') w.write('pass');
        else this.expr(w, s.value, scope);
        return;
      case 'Assign': {
        for (const t of s.targets) this.checkTarget(t);
        w.stmt(s.line, indent);
        this.expr(w, s.targets[0]!, scope, true);
        w.write(' = ');
        this.expr(w, s.value, scope);
        for (let k = 1; k < s.targets.length; k++) {
          const first = s.targets[0]!;
          if (first.kind !== 'Name') {
            this.problem('chained assignment (a = b = value) is supported only when the first target is a name', s.targets[k]!);
            continue;
          }
          w.write('; ');
          this.expr(w, s.targets[k]!, scope, true);
          w.write(' = ');
          this.expr(w, first, scope);
        }
        return;
      }
      case 'AnnAssign':
        if (!s.value) return;
        this.checkTarget(s.target);
        w.stmt(s.line, indent);
        this.expr(w, s.target, scope, true);
        w.write(' = ');
        this.expr(w, s.value, scope);
        return;
      case 'AugAssign':
        this.checkTarget(s.target);
        if (s.op === '**=' || s.op === '@=') this.problem(`${s.op} is not supported in workflow code`, s, s.op === '**=' ? 'multiply explicitly (Starlark has no ** operator)' : undefined);
        w.stmt(s.line, indent);
        this.expr(w, s.target, scope, true);
        w.write(` ${s.op} `);
        this.expr(w, s.value, scope);
        return;
      case 'Return':
        w.stmt(s.line, indent);
        w.write('return');
        if (s.value) {
          w.write(' ');
          this.expr(w, s.value, scope);
        }
        return;
      case 'Pass':
      case 'Break':
      case 'Continue':
        w.stmt(s.line, indent);
        w.write(s.kind.toLowerCase());
        return;
      case 'If': {
        w.stmt(s.line, indent);
        w.write(s.elif ? 'elif ' : 'if ');
        this.expr(w, s.test, scope);
        w.colon();
        this.block(w, s.body, indent + 1, scope, s.line);
        if (s.orelse) {
          const only = s.orelse.stmts[0];
          if (s.orelse.stmts.length === 1 && only?.kind === 'If' && only.elif) this.stmt(w, only, indent, scope, top);
          else {
            w.stmt(s.elsePos!.line, indent);
            w.write('else');
            w.colon();
            this.block(w, s.orelse, indent + 1, scope, s.elsePos!.line);
          }
        }
        return;
      }
      case 'For':
        if (s.async) this.problem('async for is not supported in workflow code', s, UNSUPPORTED_HINTS['async']![1]);
        if (s.orelse) this.problem('for ... else is not supported in workflow code', s, 'set a flag before break and test it after the loop');
        this.checkTarget(s.target);
        w.stmt(s.line, indent);
        w.write('for ');
        this.expr(w, s.target, scope, true);
        w.write(' in ');
        this.expr(w, s.iter, scope);
        w.colon();
        this.block(w, s.body, indent + 1, scope, s.line);
        return;
      case 'While':
        if (!this.options.allowWhile) this.problem('while loops are not allowed in workflow code', s, 'use for i in range(N): ... with break (a bounded loop), or compile with allowWhile');
        if (s.orelse) this.problem('while ... else is not supported in workflow code', s, 'set a flag before break and test it after the loop');
        w.stmt(s.line, indent);
        w.write('while ');
        this.expr(w, s.test, scope);
        w.colon();
        this.block(w, s.body, indent + 1, scope, s.line);
        return;
      case 'Def':
        if (s.def.decorators.length > 0) this.problem('decorators are not supported on nested functions', s.def.decorators[0]!, 'remove the decorator');
        this.nested.push({ name: s.def.name, scope });
        try {
          this.def(w, s.def, indent, scope);
        } finally {
          this.nested.pop();
        }
        return;
      case 'Import':
      case 'ImportFrom':
        this.problem('import inside workflow code is not supported', s, 'import at the top of the file, and use libraries only inside @task functions');
        return;
      case 'Unsupported': {
        const [msg, hint] = UNSUPPORTED_HINTS[s.keyword] ?? [`${s.keyword} is not supported in workflow code`, undefined];
        this.problem(msg, s, hint);
        return;
      }
    }
  }

  private checkTarget(t: Expr): void {
    switch (t.kind) {
      case 'Name':
      case 'Attr':
      case 'Subscript':
        return;
      case 'Tuple':
      case 'List':
        for (const e of t.elts) this.checkTarget(e);
        return;
      case 'Paren':
        return this.checkTarget(t.value);
      case 'Starred':
        this.problem('star unpacking in assignments (a, *b = ...) is not supported in workflow code', t, 'index or slice the sequence: a, b = xs[0], xs[1:]');
        return;
      default:
        this.problem('cannot assign to this expression', t);
    }
  }

  // ---- names
  private rename(n: string): string {
    return RENAME[n] ?? n;
  }

  private isLocal(name: string, scope: Scope | undefined): boolean {
    for (let s = scope; s; s = s.parent) if (s.locals.has(name)) return true;
    return false;
  }

  /** A global name used by compiled code: reach what defines it. */
  private useGlobal(name: string, pos: Pos): void {
    const list = this.defs.get(name);
    if (!list) return;
    for (const e of list) {
      switch (e.top.kind) {
        case 'helper':
        case 'const':
          this.enqueue(e);
          break;
        case 'broken':
          if (!this.emitted.has(e)) {
            this.emitted.add(e);
            this.problems.push(e.top.error.toProblem());
          }
          break;
        case 'unsupported':
          if (!this.emitted.has(e)) {
            this.emitted.add(e);
            const [msg, hint] = UNSUPPORTED_HINTS[e.top.keyword] ?? [`${e.top.keyword} is not supported in workflow code`, undefined];
            this.problems.push({ message: `${name} is defined by a ${e.top.keyword} statement: ${msg}`, line: e.top.line, column: e.top.col, ...(hint ? { hint } : {}) });
          }
          break;
      }
      if ((e.top.kind === 'helper' || e.top.kind === 'workflow') && this.currentFn !== undefined) {
        const m = this.edges.get(this.currentFn) ?? new Map<string, Pos>();
        if (!m.has(name)) m.set(name, pos);
        this.edges.set(this.currentFn, m);
      }
    }
  }

  private ufName(w: Writer, name: string, module: string, pos: Pos): void {
    const mapped = UF_NAMES[name];
    if (mapped !== undefined) {
      if (TIME_NAMES.has(name)) this.usesTime = true;
      w.write(mapped);
      return;
    }
    if (name === 'datestr') this.problem('not supported yet: datestr in workflow code', pos, 'use utc_format_seconds("%Y-%m-%d", time())');
    else if (name === 'task' || name === 'workflow') this.problem(`${name} can only be used as a decorator`, pos);
    else this.problem(`not supported yet: ${name} from ${module} in workflow code`, pos);
    w.write(name);
  }

  private name(w: Writer, e: Expr & { kind: 'Name' }, scope: Scope, store: boolean): void {
    if (store || this.isLocal(e.id, scope)) {
      if (!store) {
        // A nested def that calls itself (or an enclosing nested def): recursion.
        let owner: Scope | undefined = scope;
        while (owner && !owner.locals.has(e.id)) owner = owner.parent;
        const hit = this.nested.find((n) => n.name === e.id && n.scope === owner);
        if (hit) this.problem(`recursion is not allowed in workflow code: ${this.nested.slice(this.nested.indexOf(hit)).map((n) => n.name).join(' -> ')} -> ${e.id}`, e, 'rewrite it as a bounded for loop');
      }
      w.write(this.rename(e.id));
      return;
    }
    const b = this.bindings.get(e.id);
    if (b && !this.defs.has(e.id)) {
      if (b.kind === 'library') {
        this.problem(
          `workflow code cannot call the imported library ${e.id}: move it into a @task function`,
          e,
          `${e.id} (${b.module}) is Python; workflow code runs as Starlark and can call only tasks, workflows, helpers and Starlark builtins` +
            (b.imported !== undefined ? `. If ${b.imported} is a @task or @workflow of ${b.module}: tasks and workflows of other modules are not supported yet, declare them in this file` : ''),
        );
        w.write(e.id);
        return;
      }
      if (b.kind === 'uf-name') return this.ufName(w, b.name, b.module, e);
      this.problem(`${e.id} (${b.module}) can only be used as ${e.id}.NAME`, e);
      w.write(e.id);
      return;
    }
    this.useGlobal(e.id, e);
    w.write(this.rename(e.id));
  }

  // ---- expressions
  private expr(w: Writer, e: Expr, scope: Scope, store = false): void {
    w.at(e.line);
    switch (e.kind) {
      case 'Name':
        return this.name(w, e, scope, store);
      case 'Num':
        return this.num(w, e);
      case 'Str':
        return this.str(w, e, scope);
      case 'Const':
        if (e.value === '...') {
          this.problem('... (Ellipsis) is not supported in workflow code', e, 'use None');
          w.write('None');
        } else w.write(e.value);
        return;
      case 'Attr': {
        // `uniflow.RayTask`, `michelangelo.uniflow.core.task`: a name of a Uniflow module.
        let root: Expr = e.value;
        while (root.kind === 'Attr') root = root.value;
        if (root.kind === 'Name' && !this.isLocal(root.id, scope) && !this.defs.has(root.id)) {
          const b = this.bindings.get(root.id);
          if (b?.kind === 'uf-module') return this.ufName(w, e.attr, b.module, e);
        }
        this.expr(w, e.value, scope);
        w.write(`.${e.attr}`);
        return;
      }
      case 'Subscript':
        this.expr(w, e.value, scope);
        w.open('[');
        if (e.index.kind === 'Tuple' && !e.index.paren) {
          w.open('(');
          this.elts(w, e.index.elts, scope);
          if (e.index.elts.length === 1) w.write(',');
          w.close(')');
        } else this.expr(w, e.index, scope);
        w.close(']');
        return;
      case 'Slice':
        if (e.lo) this.expr(w, e.lo, scope);
        w.write(':');
        if (e.hi) this.expr(w, e.hi, scope);
        if (e.step) {
          w.write(':');
          this.expr(w, e.step, scope);
        }
        return;
      case 'Call':
        this.expr(w, e.func, scope);
        w.open('(');
        this.args(w, e.args, scope);
        w.at(e.end.line);
        w.close(')');
        return;
      case 'BinOp':
        if (e.op === '**') this.problem('** is not supported in workflow code (Starlark has no power operator)', e, 'multiply explicitly, or compute the power in a @task');
        if (e.op === '@') this.problem('@ (matrix multiplication) is not supported in workflow code', e);
        this.expr(w, e.left, scope);
        w.write(` ${e.op} `);
        this.expr(w, e.right, scope);
        return;
      case 'Unary':
        w.write(e.op === 'not' ? 'not ' : e.op);
        this.expr(w, e.operand, scope);
        return;
      case 'BoolOp':
        this.expr(w, e.left, scope);
        w.write(` ${e.op} `);
        this.expr(w, e.right, scope);
        return;
      case 'Compare':
        return this.compare(w, e, scope);
      case 'IfExp':
        this.expr(w, e.body, scope);
        w.write(' if ');
        this.expr(w, e.test, scope);
        w.write(' else ');
        this.expr(w, e.orelse, scope);
        return;
      case 'Lambda': {
        const locals = new Set<string>();
        for (const p of e.params) if (p.kind !== 'kwmarker' && p.kind !== 'posmarker') locals.add(p.name);
        w.write('lambda');
        if (e.params.length > 0) w.write(' ');
        this.params(w, e.params, scope);
        w.write(': ');
        this.expr(w, e.body, { locals, parent: scope });
        return;
      }
      case 'List':
        w.open('[');
        this.elts(w, e.elts, scope, store);
        w.at(e.end.line);
        w.close(']');
        return;
      case 'Tuple':
        if (!e.paren) {
          // `a, b = f()`, `return x, y`: as written (only statements hold unparenthesized tuples).
          this.elts(w, e.elts, scope, store);
          if (e.elts.length === 1) w.write(',');
          return;
        }
        w.open('(');
        this.elts(w, e.elts, scope, store);
        if (e.elts.length === 1) w.write(',');
        if (e.end) w.at(e.end.line);
        w.close(')');
        return;
      case 'Set':
        this.problem('set literals are not supported in Starlark', e, 'use set([...])');
        w.write('set(');
        w.open('[');
        this.elts(w, e.elts, scope);
        w.close(']');
        w.write(')');
        return;
      case 'Dict':
        w.open('{');
        e.entries.forEach((en, k) => {
          if (k > 0) w.write(', ');
          if ('dstar' in en) {
            this.problem('** unpacking in dict literals is not supported in workflow code', en.dstar, 'use dict(a, **b) or d.update(b)');
            this.expr(w, en.dstar, scope);
            return;
          }
          this.expr(w, en.key, scope);
          w.write(': ');
          this.expr(w, en.value, scope);
        });
        w.at(e.end.line);
        w.close('}');
        return;
      case 'Comp':
        return this.comp(w, e, scope);
      case 'Paren':
        w.open('(');
        this.expr(w, e.value, scope, store);
        w.at(e.end.line);
        w.close(')');
        return;
      case 'Starred':
        this.problem('star unpacking is not supported here in workflow code', e, 'use list concatenation (a + b) or pass *args in a call');
        this.expr(w, e.value, scope);
        return;
      case 'Walrus':
        this.problem('assignment expressions (:=) are not supported in workflow code', e, 'assign the value on its own line first');
        this.expr(w, e.value, scope);
        return;
      case 'Await':
        this.problem('await is not supported in workflow code', e, UNSUPPORTED_HINTS['async']![1]);
        this.expr(w, e.value, scope);
        return;
      case 'Yield':
        this.problem('yield is not supported in workflow code', e, 'build and return a list instead');
        w.write('None');
        return;
    }
  }

  private elts(w: Writer, elts: readonly Expr[], scope: Scope, store = false): void {
    elts.forEach((x, k) => {
      if (k > 0) w.write(', ');
      this.expr(w, x, scope, store);
    });
  }

  private args(w: Writer, args: readonly Arg[], scope: Scope): void {
    args.forEach((a, k) => {
      if (k > 0) w.write(', ');
      switch (a.kind) {
        case 'pos':
          return this.expr(w, a.value, scope);
        case 'star':
          w.write('*');
          return this.expr(w, a.value, scope);
        case 'dstar':
          w.write('**');
          return this.expr(w, a.value, scope);
        case 'kw':
          w.at(a.pos.line);
          w.write(`${a.name} = `);
          return this.expr(w, a.value, scope);
      }
    });
  }

  private comp(w: Writer, e: Expr & { kind: 'Comp' }, scope: Scope): void {
    const locals = new Set<string>();
    for (const c of e.clauses) if (c.kind === 'for' && c.target) collectTargetNames(c.target, locals);
    const inner: Scope = { locals, parent: scope };
    if (e.comp === 'set') w.write('set(');
    w.open(e.comp === 'dict' ? '{' : '[');
    this.expr(w, e.elt, inner);
    if (e.comp === 'dict') {
      w.write(': ');
      this.expr(w, e.value!, inner);
    }
    e.clauses.forEach((c, k) => {
      w.at(c.pos.line);
      if (c.async) this.problem('async comprehensions are not supported in workflow code', c.pos);
      if (c.kind === 'for') {
        this.checkTarget(c.target!);
        w.write(' for ');
        this.expr(w, c.target!, inner, true);
        w.write(' in ');
        // The first iterable is evaluated in the enclosing scope.
        this.expr(w, c.expr, k === 0 ? scope : inner);
      } else {
        w.write(' if ');
        this.expr(w, c.expr, inner);
      }
    });
    w.at(e.end.line);
    w.close(e.comp === 'dict' ? '}' : ']');
    if (e.comp === 'set') w.write(')');
  }

  private num(w: Writer, e: Expr & { kind: 'Num' }): void {
    let t = e.text.replaceAll('_', '');
    if (/[jJ]$/.test(t)) {
      this.problem('complex numbers are not supported in workflow code', e);
      w.write('0');
      return;
    }
    if (/^0[xXoObB]/.test(t)) t = t[0] + t[1]!.toLowerCase() + t.slice(2);
    else if (/[.eE]/.test(t)) {
      if (t.startsWith('.')) t = '0' + t;
      t = t.replace(/\.(?=$|[eE])/, '.0');
    } else t = t.replace(/^0+(?=\d)/, '');
    w.write(t);
  }

  /** `a < b <= c`: each operand once, left to right, stopping at the first false comparison. */
  private compare(w: Writer, e: Expr & { kind: 'Compare' }, scope: Scope): void {
    for (const o of e.ops) {
      if (o.op === 'is' || o.op === 'is not') {
        this.problem(`${o.op} is not supported in workflow code`, o.pos, `use ${o.op === 'is' ? '==' : '!='} (x ${o.op === 'is' ? '==' : '!='} None for None checks)`);
      }
    }
    const op = (k: number): string => {
      const o = e.ops[k]!.op;
      return o === 'is' ? '==' : o === 'is not' ? '!=' : o;
    };
    if (e.ops.length === 1) {
      this.expr(w, e.operands[0]!, scope);
      w.write(` ${op(0)} `);
      this.expr(w, e.operands[1]!, scope);
      return;
    }
    // (lambda __c0: (lambda __c1: __c0 < __c1 and __c1 <= c)(b))(a), simple operands inline.
    const simple = (x: Expr): boolean => x.kind === 'Num' || x.kind === 'Const' || (x.kind === 'Str' && !x.fstring) || x.kind === 'Name';
    const n = e.operands.length;
    // Each operand but the last is bound to a name unless simple; binding k happens after comparison k-2.
    const emitFrom = (k: number, prev: () => void): void => {
      // Compare operand k (given by prev) with operand k+1, then continue.
      const next = e.operands[k + 1]!;
      if (k + 1 === n - 1) {
        prev();
        w.write(` ${op(k)} `);
        this.expr(w, next, scope);
        return;
      }
      if (simple(next)) {
        prev();
        w.write(` ${op(k)} `);
        this.expr(w, next, scope);
        w.write(' and ');
        emitFrom(k + 1, () => this.expr(w, next, scope));
        return;
      }
      const v = `__c${this.tmp++}`;
      w.open('(');
      w.write(`lambda ${v}: `);
      prev();
      w.write(` ${op(k)} ${v} and `);
      emitFrom(k + 1, () => w.write(v));
      w.close(')');
      w.open('(');
      this.expr(w, next, scope);
      w.close(')');
    };
    const first = e.operands[0]!;
    w.open('(');
    if (simple(first)) emitFrom(0, () => this.expr(w, first, scope));
    else {
      const v = `__c${this.tmp++}`;
      w.open('(');
      w.write(`lambda ${v}: `);
      emitFrom(0, () => w.write(v));
      w.close(')');
      w.open('(');
      this.expr(w, first, scope);
      w.close(')');
    }
    w.close(')');
  }

  /** A string literal, or an f-string as `"fmt" % (args,)`. */
  private str(w: Writer, e: Expr & { kind: 'Str' }, scope: Scope): void {
    if (!e.fstring) {
      w.write(starlarkLiteral(e.pieces.map((p) => (p.kind === 'lit' ? p.value : '')).join(''), e.bytes));
      return;
    }
    let fmt = '';
    const fields: { piece: StrPiece & { kind: 'field' }; conv: string }[] = [];
    for (const p of e.pieces) {
      if (p.kind === 'lit') {
        fmt += p.value.replaceAll('%', '%%');
        continue;
      }
      if (p.debug !== undefined) fmt += p.debug.replaceAll('%', '%%');
      const conv = this.fieldConversion(p);
      fmt += conv;
      fields.push({ piece: p, conv });
    }
    if (fields.length === 0) {
      w.write(starlarkLiteral(fmt.replaceAll('%%', '%')));
      return;
    }
    const lits = e.pieces.some((p) => p.kind === 'lit' && p.value !== '') || fields.some((f) => f.piece.debug !== undefined);
    if (!lits && fields.length === 1 && fields[0]!.conv === '%s' && !formats.has(fields[0]!.piece)) {
      w.write('str');
      w.open('(');
      const x = fields[0]!.piece.expr;
      this.expr(w, x.kind === 'Tuple' && !x.paren ? { ...x, paren: true } : x, scope);
      w.close(')');
      return;
    }
    w.open('(');
    w.write(`${starlarkLiteral(fmt)} % `);
    w.open('(');
    fields.forEach((f, k) => {
      if (k > 0) w.write(', ');
      const x = f.piece.expr;
      const helper = formats.get(f.piece);
      if (helper) w.write('__uf_fmt(');
      // f"{a, b}" formats the tuple: it stays one operand.
      this.expr(w, x.kind === 'Tuple' && !x.paren ? { ...x, paren: true } : x, scope);
      if (helper) w.write(`, ${helper.map((v) => (typeof v === 'string' ? starlarkLiteral(v) : String(v))).join(', ')})`);
    });
    if (fields.length === 1) w.write(',');
    w.close(')');
    w.close(')');
  }

  private fieldConversion(p: StrPiece & { kind: 'field' }): string {
    const spec = p.spec;
    if (p.conv !== '' && p.conv !== 'r' && p.conv !== 's') {
      this.problem(`not supported yet: the f-string conversion !${p.conv}`, p, 'use !r or !s');
      return '%s';
    }
    const conv = p.conv !== '' ? p.conv : p.debug !== undefined && spec === '' ? 'r' : '';
    if (conv === 'r' && spec === '') return '%r';
    const map: Record<string, string> = { '': '%s', s: '%s', d: '%d', x: '%x', X: '%X', o: '%o', f: '%f', F: '%F', e: '%e', E: '%E' };
    const m = conv === 'r' ? undefined : map[spec];
    if (m !== undefined) return conv === 's' && spec !== '' && spec !== 's' ? (this.problem(`format spec ":${spec}" cannot follow !s`, p), '%s') : m;
    // Width, alignment, sign and fixed-point precision: the __uf_fmt helper (appended to the file).
    const unsupported = (why: string): string => {
      this.problem(`not supported yet: format spec ":${spec}" in an f-string (${why})`, p, 'supported: [[fill]align][sign][0][width][.precision][type] with type s, d, x, X, o, f, F, % (precision with f, F, % and s), e, E (no precision)');
      return '%s';
    };
    const sm = /^(?:(.)?([<>=^]))?([+\- ])?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([a-zA-Z%])?$/su.exec(spec);
    if (!sm) return unsupported(spec.includes('{') ? 'nested replacement fields' : 'not a format spec');
    const [, fill0, align0, sign, alt, zero, width, group, prec, type0] = sm;
    const type = type0 ?? '';
    if (alt) return unsupported('the # flag');
    if (group) return unsupported(`the ${group} grouping`);
    if (!['', 's', 'd', 'x', 'X', 'o', 'f', 'F', '%', 'e', 'E'].includes(type)) return unsupported(`type ${type}`);
    if (prec !== undefined && !['', 's', 'f', 'F', '%'].includes(type)) return unsupported(`precision with type ${type}`);
    if (conv !== '' && !['', 's'].includes(type)) return unsupported(`a numeric type after !${conv}`);
    if (this.fnDepth === 0) return unsupported('in a module constant; format the value inside a function');
    this.usesFmt = true;
    const fill = fill0 ?? (zero && !align0 ? '0' : ' ');
    const align = align0 ?? (zero ? '=' : '');
    formats.set(p, [conv === 'r' ? 'r' : type, prec !== undefined ? Number(prec) : -1, fill, align, width !== undefined ? Number(width) : 0, sign ?? '-']);
    return '%s';
  }

  private fnDepth = 0;
  /** The nested defs being compiled, with the scope that binds each name. */
  private readonly nested: { name: string; scope: Scope }[] = [];
  private usesFmt = false;

  // ---- recursion
  private checkRecursion(): void {
    const reported = new Set<string>();
    const visit = (fn: string, path: string[]): void => {
      const m = this.edges.get(fn);
      if (!m) return;
      for (const [callee, pos] of m) {
        const k = path.indexOf(callee);
        if (callee === fn || k >= 0) {
          const cycle = callee === fn ? [fn, fn] : [...path.slice(k), fn, callee];
          const key = [...cycle].sort().join(',');
          if (reported.has(key)) continue;
          reported.add(key);
          this.problem(`recursion is not allowed in workflow code: ${cycle.join(' -> ')}`, pos, 'rewrite it as a bounded for loop');
          continue;
        }
        if (path.length < 64) visit(callee, [...path, fn]);
      }
    };
    for (const fn of this.edges.keys()) visit(fn, []);
  }

  // ---- output
  private assemble(): string {
    const total = this.text.split(/\r\n|\r|\n/).length;
    const out: string[] = new Array<string>(total).fill('');
    for (const e of this.entries) {
      const w = e.out;
      if (!w || !this.emitted.has(e)) continue;
      w.lines.forEach((l, k) => {
        const idx = w.base - 1 + k;
        while (out.length <= idx) out.push('');
        out[idx] = out[idx] === '' ? l : `${out[idx]}; ${l.trimStart()}`;
      });
    }
    if (this.usesTime) {
      const idx = (this.timeImportLine || this.firstImportLine || 1) - 1;
      const load = 'load("@plugin", __uf_time = "time")';
      out[idx] = out[idx] === '' ? load : `${load}; ${out[idx]}`;
    }
    // Helpers go after the last line, so that they change no line number of the file.
    if (this.usesFmt) {
      if (out[out.length - 1] !== '') out.push('');
      out.push(...FMT_HELPERS);
    }
    return out.map((l) => l.replace(/\s+$/, '')).join('\n');
  }
}

/** The __uf_fmt helper arguments of f-string fields with a width, alignment, sign or precision. */
const formats = new WeakMap<StrPiece, [string, number, string, string, number, string]>();

/**
 * Python's format spec for one value: `typ` one of "", s, d, x, X, o, f, F, %, e, E; `prec` -1 when
 * absent; fixed-point output rounds the exact binary value half-to-even, as CPython does (floats
 * are scaled by 2**60 exactly, so values below 2**-8 may lose their lowest bits).
 */
const FMT_HELPERS = [
  '# Appended by the Python compiler for f-string format specs (Python\'s format(value, spec)).',
  'def __uf_fixed(x, n, scale):',
  '    if type(x) == "bool":',
  '        x = int(x)',
  '    neg = x < 0',
  '    if neg:',
  '        x = -x',
  '    if type(x) == "float":',
  '        m = int(x * 1152921504606846976.0) * scale',
  '        den = 1152921504606846976',
  '    else:',
  '        m = x * scale',
  '        den = 1',
  '    p = 1',
  '    for _ in range(n):',
  '        p = p * 10',
  '    q = m * p // den',
  '    r = m * p % den',
  '    if 2 * r > den or (2 * r == den and q % 2 == 1):',
  '        q = q + 1',
  '    s = str(q)',
  '    if n > 0:',
  '        if len(s) <= n:',
  '            s = "0" * (n - len(s) + 1) + s',
  '        s = s[:len(s) - n] + "." + s[len(s) - n:]',
  '    return "-" + s if neg else s',
  '',
  'def __uf_fmt(v, typ, prec, fill, align, width, sign):',
  '    text = type(v) == "string"',
  '    if typ in ("f", "F", "%"):',
  '        s = __uf_fixed(v, prec if prec >= 0 else 6, 100 if typ == "%" else 1) + ("%" if typ == "%" else "")',
  '    elif typ in ("d", "x", "X", "o", "e", "E"):',
  '        s = ("%" + typ) % v',
  '    elif typ == "r":',
  '        s = repr(v)',
  '        text = True',
  '        if prec >= 0:',
  '            s = s[:prec]',
  '    elif text or typ == "s":',
  '        s = str(v)',
  '        if prec >= 0:',
  '            s = s[:prec]',
  '    elif prec >= 0:',
  '        fail("format spec with a precision and no type: not supported for %s" % type(v))',
  '    else:',
  '        s = str(v)',
  '    if not text and sign != "-" and not s.startswith("-"):',
  '        s = sign + s',
  '    k = width - len(s)',
  '    if k <= 0:',
  '        return s',
  '    if align == "":',
  '        align = "<" if text else ">"',
  '    if align == "<":',
  '        return s + fill * k',
  '    if align == "^":',
  '        return fill * (k // 2) + s + fill * (k - k // 2)',
  '    if align == "=" and s[:1] in ("-", "+", " "):',
  '        return s[:1] + fill * k + s[1:]',
  '    return fill * k + s',
];

function collectTargetNames(t: Expr, out: Set<string> | string[]): void {
  const add = (n: string): void => {
    if (Array.isArray(out)) out.push(n);
    else out.add(n);
  };
  switch (t.kind) {
    case 'Name':
      add(t.id);
      return;
    case 'Tuple':
    case 'List':
      for (const e of t.elts) collectTargetNames(e, out);
      return;
    case 'Paren':
    case 'Starred':
      collectTargetNames(t.value, out);
      return;
    default:
      return;
  }
}

/** The names a function body binds (not descending into nested functions or comprehensions). */
function collectBlockLocals(b: Block, out: Set<string>): void {
  for (const s of b.stmts) {
    switch (s.kind) {
      case 'Assign':
        for (const t of s.targets) collectTargetNames(t, out);
        break;
      case 'AnnAssign':
      case 'AugAssign':
        collectTargetNames(s.target, out);
        break;
      case 'For':
        collectTargetNames(s.target, out);
        collectBlockLocals(s.body, out);
        if (s.orelse) collectBlockLocals(s.orelse, out);
        break;
      case 'While':
        collectBlockLocals(s.body, out);
        if (s.orelse) collectBlockLocals(s.orelse, out);
        break;
      case 'If':
        collectBlockLocals(s.body, out);
        if (s.orelse) collectBlockLocals(s.orelse, out);
        break;
      case 'Def':
        out.add(s.def.name);
        break;
      case 'Import':
        for (const n of s.names) out.add(n.asname ?? n.module.split('.')[0]!);
        break;
      case 'ImportFrom':
        for (const n of s.names) out.add(n.asname ?? n.name);
        break;
      default:
        break;
    }
  }
}

function isMainGuard(e: Expr): boolean {
  if (e.kind !== 'Compare' || e.ops.length !== 1 || e.ops[0]!.op !== '==') return false;
  const [a, b] = e.operands as [Expr, Expr];
  const isName = (x: Expr): boolean => x.kind === 'Name' && x.id === '__name__';
  const isMain = (x: Expr): boolean => x.kind === 'Str' && !x.fstring && x.pieces.length === 1 && x.pieces[0]!.kind === 'lit' && x.pieces[0]!.value === '__main__';
  return (isName(a) && isMain(b)) || (isName(b) && isMain(a));
}

/** The value of a constant expression (numbers, strings, True/False/None, lists, tuples, dicts). */
export function constValue(e: Expr): { ok: true; value: unknown } | { ok: false } {
  switch (e.kind) {
    case 'Num': {
      const t = e.text.replaceAll('_', '');
      if (/[jJ]$/.test(t)) return { ok: false };
      if (/^0[xXoObB]/.test(t) || /^\d+$/.test(t)) {
        const big = BigInt(t);
        // JSON numbers: an int beyond 2**53 has no exact JSON value here, so it is not a constant.
        return big <= BigInt(Number.MAX_SAFE_INTEGER) ? { ok: true, value: Number(big) } : { ok: false };
      }
      return { ok: true, value: Number(t) };
    }
    case 'Str':
      if (e.fstring || e.bytes) return { ok: false };
      return { ok: true, value: plainValue(e.pieces.map((p) => (p.kind === 'lit' ? p.value : '')).join('')) };
    case 'Const':
      return e.value === '...' ? { ok: false } : { ok: true, value: e.value === 'None' ? null : e.value === 'True' };
    case 'Unary': {
      if (e.op !== '-' && e.op !== '+') return { ok: false };
      const v = constValue(e.operand);
      if (!v.ok || (typeof v.value !== 'number' && typeof v.value !== 'bigint')) return { ok: false };
      return { ok: true, value: e.op === '-' ? -(v.value as number) : v.value };
    }
    case 'Paren':
      return constValue(e.value);
    case 'List':
    case 'Tuple': {
      const out: unknown[] = [];
      for (const x of e.elts) {
        const v = constValue(x);
        if (!v.ok) return { ok: false };
        out.push(v.value);
      }
      return { ok: true, value: out };
    }
    case 'Dict': {
      const out: Record<string, unknown> = {};
      for (const en of e.entries) {
        if ('dstar' in en) return { ok: false };
        const k = constValue(en.key);
        const v = constValue(en.value);
        if (!k.ok || typeof k.value !== 'string' || !v.ok) return { ok: false };
        out[k.value] = v.value;
      }
      return { ok: true, value: out };
    }
    default:
      return { ok: false };
  }
}
