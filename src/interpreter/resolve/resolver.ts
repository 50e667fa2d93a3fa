/**
 * This file defines the resolver: the static pass between parsing and compilation. It binds every
 * identifier to a scope, following the spec's static scoping (as go.starlark.net does):
 *
 *   - A name bound at top level (assignment, def, load, for) is a *global* of the module; loads are
 *     *file-local* unless the `loadBindsGlobally` option is on.
 *   - A name bound anywhere in a function body (or as a parameter) is *local* to the whole function;
 *     a comprehension opens a block of its own whose variables are local to it.
 *   - Any other name used in a function is looked up lexically: a local of an enclosing function is
 *     a *free* variable (a closure capture), else a global, a *predeclared* name (given by the
 *     embedder), or a *universal* builtin; else it is undefined.
 *
 * Uses at module level are resolved on the spot (so a global used before its first binding at top
 * level is "undefined"); uses inside functions are resolved when the module ends, so functions may
 * refer to globals defined after them. Every error is collected, with a "did you mean" hint for
 * undefined names, and reported at once as a ResolveError.
 *
 * The resolver never changes the AST: it returns side tables (Maps keyed by node) that the compiler
 * reads, including the JavaScript variable name chosen for each binding. Those names are derived from
 * Starlark identifiers (which match [A-Za-z_][A-Za-z0-9_]*) with a prefix, so they can never be a JS
 * keyword or collide with the compiler's own `$`-names.
 */
import type * as ast from '../syntax/ast.js';
import { ResolveError, type Diagnostic } from '../errors.js';
import type { ResolvedFileOptions } from '../options.js';
import { suggest } from '../values/ops.js';

export type Scope = 'local' | 'free' | 'global' | 'filelocal' | 'predeclared' | 'universal';

/** Where an identifier lives, and the JS variable that holds it. */
export interface Binding {
  readonly scope: Scope;
  readonly name: string;
  /** The JS variable name used by generated code. */
  readonly js: string;
  /** True for a function parameter (or a free reference to one): always bound, never checked. */
  readonly param?: boolean;
}

/** Static facts about a def or lambda. */
export interface FunctionScope {
  readonly node: ast.DefStmt | ast.LambdaExpr;
  /** JS names of the parameters, in calling-convention order. */
  readonly params: string[];
  /** JS names of the function's other locals (declared at the top of its body). */
  readonly locals: string[];
}

/** Static facts about a comprehension block. */
export interface ComprehensionScope {
  /** JS names of the comprehension's variables. */
  readonly locals: string[];
}

/** The resolver's findings for one file. */
export interface ResolvedFile {
  readonly file: ast.File;
  /** The binding of every Ident that is used or bound (not attribute names or keyword-arg names). */
  readonly bindings: Map<ast.Ident, Binding>;
  readonly functions: Map<ast.DefStmt | ast.LambdaExpr, FunctionScope>;
  readonly comprehensions: Map<ast.Comprehension, ComprehensionScope>;
  /** Module globals in order of first binding (exported after execution). */
  readonly globals: Binding[];
  /** File-local bindings (loads, when loads do not bind globally). */
  readonly fileLocals: Binding[];
  /** Predeclared and universal names actually used. */
  readonly predeclaredUsed: Set<string>;
  readonly universalUsed: Set<string>;
}

interface Block {
  readonly kind: 'module' | 'function' | 'comprehension';
  readonly parent: Block | null;
  readonly bindings: Map<string, Binding>;
  /** The function scope this block belongs to (null at module level). */
  readonly fn: FunctionScope | null;
  /** Comprehension scope, for comprehension blocks. */
  readonly comp: ComprehensionScope | null;
  readonly id: number;
}

interface Use {
  readonly id: ast.Ident;
  readonly env: Block;
}

const DOESNT = 'this Starlark dialect does not ';

/**
 * The identifier part of a JS variable name: ASCII letters, digits and `_` as they are; any other
 * character (Starlark identifiers may contain Unicode letters) as `$u<hex>`. A Starlark identifier
 * never contains `$`, so this is injective and cannot collide with the compiler's own names.
 */
export function jsName(name: string): string {
  return /^[A-Za-z0-9_]*$/.test(name) ? name : name.replace(/[^A-Za-z0-9_]/gu, (c) => `$u${c.codePointAt(0)!.toString(16)}`);
}

/**
 * Resolves a parsed file.
 * @param isPredeclared names the embedder predeclares (e.g. workflow builtins)
 * @param isUniversal the universal builtins (len, range...)
 * @throws ResolveError with every static error found
 */
export function resolveFile(
  file: ast.File,
  options: ResolvedFileOptions,
  isPredeclared: (name: string) => boolean,
  isUniversal: (name: string) => boolean,
  universalNames: () => Iterable<string> = () => [],
): ResolvedFile {
  return new Resolver(file, options, isPredeclared, isUniversal, universalNames).run();
}

class Resolver {
  private readonly errors: Diagnostic[] = [];
  private readonly bindings = new Map<ast.Ident, Binding>();
  private readonly functions = new Map<ast.DefStmt | ast.LambdaExpr, FunctionScope>();
  private readonly comprehensions = new Map<ast.Comprehension, ComprehensionScope>();
  private readonly globals = new Map<string, { b: Binding; pos: number }>();
  private readonly globalList: Binding[] = [];
  private readonly fileLocals = new Map<string, Binding>();
  private readonly predeclaredUsed = new Set<string>();
  private readonly universalUsed = new Set<string>();
  private readonly deferred: Use[] = [];
  private env: Block;
  private loops = 0;
  private nextBlockId = 1;

  constructor(
    private readonly file: ast.File,
    private readonly options: ResolvedFileOptions,
    private readonly isPredeclared: (name: string) => boolean,
    private readonly isUniversal: (name: string) => boolean,
    private readonly universalNames: () => Iterable<string>,
  ) {
    this.env = { kind: 'module', parent: null, bindings: new Map(), fn: null, comp: null, id: 0 };
  }

  run(): ResolvedFile {
    this.stmts(this.file.stmts);
    // Uses inside functions and comprehensions are resolved now that every global is known.
    for (const u of this.deferred) this.bindings.set(u.id, this.lookupLexical(u.id, u.env));
    if (this.errors.length > 0) {
      this.errors.sort((a, b) => a.offset - b.offset);
      throw new ResolveError(this.errors);
    }
    return {
      file: this.file,
      bindings: this.bindings,
      functions: this.functions,
      comprehensions: this.comprehensions,
      globals: this.globalList,
      fileLocals: [...this.fileLocals.values()],
      predeclaredUsed: this.predeclaredUsed,
      universalUsed: this.universalUsed,
    };
  }

  private error(offset: number, message: string): void {
    this.errors.push({ source: this.file.source, offset, message });
  }

  private inFunction(): boolean {
    for (let b: Block | null = this.env; b; b = b.parent) if (b.kind === 'function') return true;
    return false;
  }

  private posOf(offset: number): string {
    const p = this.file.source.position(offset);
    return `${p.file}:${p.line}:${p.column}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Binding and use

  /** Binds `id` in the current block. Returns true if the name was already bound in this block. */
  private bind(id: ast.Ident, allowRebind: boolean, fileLocal = false): boolean {
    const name = id.name;
    if (this.env.kind === 'module') {
      if (fileLocal) {
        const prevGlobal = this.globals.get(name);
        const prevLocal = this.fileLocals.get(name);
        if ((prevGlobal || prevLocal) && !this.options.globalReassign) {
          this.error(id.span.start, `cannot reassign ${prevLocal ? 'top-level' : 'global'} ${name} declared at ${this.posOf(prevGlobal?.pos ?? this.fileLocalPos.get(name)!)}`);
        }
        const b: Binding = prevLocal ?? { scope: 'filelocal', name, js: `g_${jsName(name)}` };
        this.fileLocals.set(name, b);
        this.fileLocalPos.set(name, id.span.start);
        this.bindings.set(id, b);
        return !!prevLocal;
      }
      const prev = this.globals.get(name);
      const prevLocal = this.fileLocals.get(name);
      if (prev || prevLocal) {
        // `x += y` at top level also rebinds x: an error too, unless globals may be reassigned.
        if (!this.options.globalReassign) {
          void allowRebind;
          this.error(id.span.start, `cannot reassign ${prevLocal ? 'top-level' : 'global'} ${name} declared at ${this.posOf(prev?.pos ?? this.fileLocalPos.get(name)!)}`);
        }
        this.bindings.set(id, prev ? prev.b : prevLocal!);
        return true;
      }
      const b: Binding = { scope: 'global', name, js: `g_${jsName(name)}` };
      this.globals.set(name, { b, pos: id.span.start });
      this.globalList.push(b);
      this.bindings.set(id, b);
      return false;
    }
    const existing = this.env.bindings.get(name);
    if (existing) {
      this.bindings.set(id, existing);
      return true;
    }
    const js = this.env.kind === 'comprehension' ? `v_${jsName(name)}$${this.env.id}` : `v_${jsName(name)}`;
    const b: Binding = { scope: 'local', name, js };
    this.env.bindings.set(name, b);
    if (this.env.kind === 'comprehension') this.env.comp!.locals.push(js);
    else this.env.fn!.locals.push(js);
    this.bindings.set(id, b);
    return false;
  }
  private readonly fileLocalPos = new Map<string, number>();

  private use(id: ast.Ident): void {
    if (this.env.kind === 'module') {
      this.bindings.set(id, this.useGlobal(id));
      return;
    }
    this.deferred.push({ id, env: this.env });
  }

  private useGlobal(id: ast.Ident): Binding {
    const name = id.name;
    const g = this.globals.get(name);
    if (g) return g.b;
    const fl = this.fileLocals.get(name);
    if (fl) return fl;
    if (this.isPredeclared(name)) {
      this.predeclaredUsed.add(name);
      return { scope: 'predeclared', name, js: `p_${jsName(name)}` };
    }
    if (this.isUniversal(name)) {
      if (name === 'set' && !this.options.set) this.error(id.span.start, DOESNT + 'support sets');
      this.universalUsed.add(name);
      return { scope: 'universal', name, js: `u_${jsName(name)}` };
    }
    const candidates = new Set<string>([...this.globals.keys(), ...this.fileLocals.keys(), ...this.universalNames()]);
    const hint = suggest(name, candidates);
    this.error(id.span.start, `undefined: ${name}${hint ? ` (did you mean ${hint}?)` : ''}`);
    return { scope: 'universal', name, js: `u_${jsName(name)}` };
  }

  private lookupLexical(id: ast.Ident, env: Block): Binding {
    for (let b: Block | null = env; b; b = b.parent) {
      if (b.kind === 'module') return this.useGlobal(id);
      const found = b.bindings.get(id.name);
      if (found) return b.fn === env.fn ? found : { scope: 'free', name: found.name, js: found.js, param: found.param };
    }
    return this.useGlobal(id);
  }

  private push(kind: 'function' | 'comprehension', fn: FunctionScope | null): Block {
    const parent = this.env;
    const block: Block = {
      kind,
      parent,
      bindings: new Map(),
      fn: kind === 'function' ? fn : parent.fn,
      comp: kind === 'comprehension' ? { locals: [] } : null,
      id: this.nextBlockId++,
    };
    this.env = block;
    return block;
  }

  private pop(): void {
    this.env = this.env.parent!;
  }

  // ---------------------------------------------------------------------------------------------
  // Statements

  private stmts(stmts: readonly ast.Stmt[]): void {
    for (const s of stmts) this.stmt(s);
  }

  private stmt(s: ast.Stmt): void {
    switch (s.kind) {
      case 'ExprStmt':
        this.expr(s.x);
        break;
      case 'BranchStmt':
        if (this.loops === 0 && s.token !== 'pass') this.error(s.span.start, `${s.token} not in a loop`);
        break;
      case 'IfStmt': {
        if (!this.inFunction() && !this.options.topLevelControl && !s.elif) {
          this.error(s.span.start, 'if statement not within a function');
        }
        // An if/elif chain is walked iteratively, so a long chain does not nest on the JS stack.
        let cur: ast.IfStmt = s;
        for (;;) {
          this.expr(cur.cond);
          this.stmts(cur.then);
          const next = cur.els.length === 1 && cur.els[0]!.kind === 'IfStmt' && cur.els[0]!.elif ? cur.els[0] : undefined;
          if (!next) {
            this.stmts(cur.els);
            break;
          }
          cur = next;
        }
        break;
      }
      case 'AssignStmt':
        this.expr(s.rhs);
        this.assign(s.lhs, s.op !== '=');
        break;
      case 'DefStmt': {
        if (s.decorators.length > 0 && !this.options.decorators) {
          this.error(s.decorators[0]!.span.start - 1, DOESNT + 'support decorators (enable the decorators option)');
        }
        for (const d of s.decorators) this.expr(d);
        this.bind(s.name, false);
        this.function(s, s.params, () => this.stmts(s.body));
        break;
      }
      case 'ForStmt':
        if (!this.inFunction() && !this.options.topLevelControl) this.error(s.forPos, 'for loop not within a function');
        this.expr(s.x);
        this.assign(s.vars, false);
        this.loops++;
        this.stmts(s.body);
        this.loops--;
        break;
      case 'WhileStmt':
        if (!this.options.while) this.error(s.span.start, DOESNT + 'support while loops');
        if (!this.inFunction() && !this.options.topLevelControl) this.error(s.span.start, 'while loop not within a function');
        this.expr(s.cond);
        this.loops++;
        this.stmts(s.body);
        this.loops--;
        break;
      case 'ReturnStmt':
        if (!this.inFunction()) this.error(s.span.start, 'return statement not within a function');
        if (s.result) this.expr(s.result);
        break;
      case 'LoadStmt':
        if (this.inFunction()) {
          this.error(s.span.start, 'load statement within a function');
          break;
        }
        for (const { local, remote } of s.bindings) {
          if (remote.value === '') {
            this.error(remote.span.start, 'load: empty identifier');
            continue;
          }
          if (remote.value.startsWith('_')) {
            this.error(remote.span.start, `load: names with leading underscores are not exported: ${remote.value}`);
          }
          this.bind(local, false, !this.options.loadBindsGlobally);
        }
        break;
      default: {
        const never: never = s;
        throw new Error(`unexpected statement ${(never as ast.Stmt).kind}`);
      }
    }
  }

  private assign(lhs: ast.Expr, isAugmented: boolean): void {
    switch (lhs.kind) {
      case 'Ident':
        this.bind(lhs, isAugmented);
        break;
      case 'IndexExpr':
        this.expr(lhs.x);
        this.expr(lhs.index);
        break;
      case 'DotExpr':
        this.expr(lhs.x);
        break;
      case 'TupleExpr':
      case 'ListExpr': {
        const what = lhs.kind === 'TupleExpr' ? 'tuple' : 'list';
        if (isAugmented) this.error(lhs.span.start, `can't use ${what} expression in augmented assignment`);
        for (const e of lhs.elems) this.assign(e, isAugmented);
        break;
      }
      case 'ParenExpr':
        this.assign(lhs.x, isAugmented);
        break;
      default:
        this.error(lhs.span.start, `can't assign to ${describe(lhs)}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Expressions

  private expr(e: ast.Expr): void {
    switch (e.kind) {
      case 'Ident':
        this.use(e);
        break;
      case 'Literal':
        break;
      case 'ListExpr':
      case 'TupleExpr':
        for (const x of e.elems) this.expr(x);
        break;
      case 'DictExpr':
        for (const en of e.entries) {
          this.expr(en.key);
          this.expr(en.value);
        }
        break;
      case 'CondExpr':
        this.expr(e.cond);
        this.expr(e.then);
        this.expr(e.els);
        break;
      case 'IndexExpr':
        this.expr(e.x);
        this.expr(e.index);
        break;
      case 'SliceExpr':
        this.expr(e.x);
        if (e.lo) this.expr(e.lo);
        if (e.hi) this.expr(e.hi);
        if (e.step) this.expr(e.step);
        break;
      case 'Comprehension': {
        const first = e.clauses[0]!;
        if (first.kind !== 'ForClause') throw new Error('comprehension must start with a for clause');
        // The first clause's iterable is resolved in the enclosing block: [x for x in x].
        this.expr(first.x);
        const block = this.push('comprehension', null);
        this.comprehensions.set(e, block.comp!);
        this.assign(first.vars, false);
        for (const c of e.clauses.slice(1)) {
          if (c.kind === 'IfClause') this.expr(c.cond);
          else {
            this.assign(c.vars, false);
            this.expr(c.x);
          }
        }
        if (e.body.kind === 'DictEntry') {
          this.expr(e.body.key);
          this.expr(e.body.value);
        } else {
          this.expr(e.body);
        }
        this.pop();
        break;
      }
      case 'UnaryExpr':
        this.expr(e.x);
        break;
      case 'BinaryExpr':
        this.expr(e.x);
        this.expr(e.y);
        break;
      case 'DotExpr':
        this.expr(e.x);
        break;
      case 'CallExpr': {
        this.expr(e.fn);
        let seenVarargs = false;
        let seenKwargs = false;
        let seenNamed = false;
        const names = new Set<string>();
        for (const a of e.args) {
          const pos = a.span.start;
          switch (a.kind) {
            case 'StarStarArg':
              if (seenKwargs) this.error(pos, 'multiple **kwargs not allowed');
              seenKwargs = true;
              break;
            case 'StarArg':
              if (seenKwargs) this.error(pos, '*args may not follow **kwargs');
              else if (seenVarargs) this.error(pos, 'multiple *args not allowed');
              seenVarargs = true;
              break;
            case 'KwArg':
              if (seenKwargs) this.error(pos, 'argument may not follow **kwargs');
              if (names.has(a.name.name)) this.error(pos, `keyword argument ${a.name.name} is repeated`);
              names.add(a.name.name);
              seenNamed = true;
              break;
            case 'PosArg':
              if (seenVarargs) this.error(pos, 'positional argument may not follow *args');
              else if (seenKwargs) this.error(pos, 'positional argument may not follow **kwargs');
              else if (seenNamed) this.error(pos, 'positional argument may not follow named');
              break;
          }
          this.expr(a.value);
        }
        break;
      }
      case 'LambdaExpr':
        this.function(e, e.params, () => this.expr(e.body));
        break;
      case 'ParenExpr':
        this.expr(e.x);
        break;
      default: {
        const never: never = e;
        throw new Error(`unexpected expression ${(never as ast.Expr).kind}`);
      }
    }
  }

  private function(node: ast.DefStmt | ast.LambdaExpr, params: readonly ast.Param[], body: () => void): void {
    // Defaults are evaluated in the enclosing block.
    for (const p of params) if (p.kind === 'Param' && p.default) this.expr(p.default);
    const fn: FunctionScope = { node, params: [], locals: [] };
    this.functions.set(node, fn);
    const block = this.push('function', fn);
    let seenVarargs = false;
    let seenKwargs = false;
    let seenOptional = false;
    // Calling-convention order: positional params, *args, keyword-only params, **kwargs.
    const positional: ast.Ident[] = [];
    const kwonly: ast.Ident[] = [];
    let star: ast.Ident | undefined;
    let starstar: ast.Ident | undefined;
    for (const p of params) {
      const pos = p.span.start;
      switch (p.kind) {
        case 'Param':
          if (seenKwargs) this.error(pos, 'parameter may not follow **kwargs');
          else if (!seenVarargs && seenOptional && !p.default) this.error(pos, 'required parameter may not follow optional');
          if (p.default) seenOptional = true;
          (seenVarargs ? kwonly : positional).push(p.name);
          break;
        case 'StarParam':
          if (seenKwargs) this.error(pos, '* parameter may not follow **kwargs');
          else if (seenVarargs) this.error(pos, 'multiple * parameters not allowed');
          seenVarargs = true;
          star = p.name;
          break;
        case 'StarStarParam':
          if (seenKwargs) this.error(pos, 'multiple ** parameters not allowed');
          seenKwargs = true;
          starstar = p.name;
          break;
      }
    }
    const bare = params.find((p) => p.kind === 'StarParam' && !p.name);
    if (bare && kwonly.length === 0) this.error(bare.span.start, 'bare * must be followed by keyword-only parameters');
    const ordered = [...positional, ...(star ? [star] : []), ...kwonly, ...(starstar ? [starstar] : [])];
    for (const id of ordered) {
      if (this.bind(id, false)) this.error(id.span.start, `duplicate parameter: ${id.name}`);
      else {
        const b: Binding = { ...this.bindings.get(id)!, param: true };
        block.bindings.set(id.name, b);
        this.bindings.set(id, b);
      }
    }
    // Parameters are declared by the function signature, not as plain locals.
    fn.params.push(...fn.locals.splice(0));
    const savedLoops = this.loops;
    this.loops = 0;
    body();
    this.loops = savedLoops;
    void block;
    this.pop();
  }
}

function describe(e: ast.Expr): string {
  switch (e.kind) {
    case 'Literal':
      return 'literal';
    case 'CallExpr':
      return 'function call';
    case 'BinaryExpr':
      return 'binary expression';
    case 'UnaryExpr':
      return 'unary expression';
    case 'CondExpr':
      return 'conditional expression';
    case 'Comprehension':
      return 'comprehension';
    case 'LambdaExpr':
      return 'lambda expression';
    case 'DictExpr':
      return 'dict expression';
    case 'SliceExpr':
      return 'slice expression';
    default:
      return e.kind.replace(/Expr$/, '').toLowerCase() + ' expression';
  }
}
