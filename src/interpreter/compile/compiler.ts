/**
 * This file defines the compiler: resolved AST → JavaScript source → a generator-function factory.
 *
 * Every Starlark function (and the module's top level) becomes a JS `function*`. A Starlark call is
 * `yield*` of the callee's generator; a builtin that must wait for the host returns a Pending, which
 * the call site `yield`s up to the thread's driver (vm/thread.ts). Loops, arithmetic and locals are
 * plain JS, so V8 optimises them; see docs/impl.md for the design and its measurements.
 *
 * Safety of the generated text: it is built only from the AST. Identifiers become `v_`/`g_`/`p_`/`u_`
 * prefixed names (Starlark identifiers are [A-Za-z_][A-Za-z0-9_]*, so these are always valid, never
 * keywords, and never collide with the compiler's `$`-names); strings are emitted with
 * JSON.stringify; everything else (big ints, floats, bytes, function descriptors) goes through the
 * constants array `$k`. No user text is ever spliced into code.
 *
 * Error positions: each function keeps the offset of the operation in progress in a local `$p`; its
 * catch block turns that into a traceback frame (vm/runtime.ts `frame`).
 */
import type * as ast from '../syntax/ast.js';
import type { Source } from '../../lexer/source.js';
import type { ResolvedFileOptions } from '../options.js';
import { jsName, type Binding, type ResolvedFile } from '../resolve/resolver.js';
import type { FunctionCode } from '../values/function.js';
import { Bytes, Float, utf8Decode, utf8Encode, type Value } from '../values/value.js';
import type { ModuleCode, Runtime } from '../vm/runtime.js';

/** Bump when the shape of generated code changes (cached programs are keyed by it). */
export const COMPILER_VERSION = 5;

/** A compiled module, ready to be instantiated with predeclared values. */
export interface Program {
  readonly source: Source;
  /** Global names in the order the module function returns their values. */
  readonly globals: readonly string[];
  /** Predeclared and universal names the code reads (bound once per execution). */
  readonly predeclared: readonly string[];
  readonly universal: readonly string[];
  /** The generated JavaScript (for debugging and tests). */
  readonly js: string;
  /** Creates the module's generator function. */
  readonly factory: (rt: Runtime, k: readonly unknown[]) => ModuleFunction;
  readonly constants: readonly unknown[];
}

/** The module generator: returns the globals' values in `Program.globals` order. */
export type ModuleFunction = (
  th: unknown,
  predeclared: (name: string) => Value,
  universal: (name: string) => Value,
) => Generator<unknown, Value[], Value>;

const RT_NAMES = [
  'add', 'sub', 'mul', 'mod', 'floorDiv', 'div', 'bitwise', 'contains', 'unary', 'lt', 'gt', 'le', 'ge', 'eq', 'ne',
  'isTrue', 'index', 'setIndex', 'slice', 'getAttr', 'setAttr', 'iterElems', 'lock', 'unlock', 'augmented',
  'unboundLocal', 'unboundGlobal', 'unpack', 'dictPut', 'push', 'makeFunction', 'enter', 'frame',
  'callBuiltin', 'callMethod', 'method', 'callGen', 'bindArgs', 'spreadArgs', 'spreadKwargs', 'tick', 'load', 'loadMember',
  'List', 'Tuple', 'Dict', 'Range', 'Function', 'Builtin', 'Pending', 'EMPTY_TUPLE',
] as const;

const ARITHMETIC: ReadonlySet<string> = new Set(['+', '-', '*', '/', '//', '%', '|', '&', '^', '<<', '>>']);

/** An identifier used as a Starlark string (attribute or keyword name): its UTF-8 form, quoted. */
function sname(name: string): string {
  return JSON.stringify(utf8Encode(name));
}

/** Compiles a resolved file. */
export function compileFile(resolved: ResolvedFile, options: ResolvedFileOptions, moduleName: string): Program {
  const c = new ModuleCompiler(resolved, options, moduleName);
  return c.compile();
}

interface FnState {
  temps: number;
  /** Code of this function (for frames). */
  codeConst: string;
  /** JS names of the variables this function captures from enclosing functions. */
  readonly free: Set<string>;
  /** JS names declared by this function (params, locals, comprehension variables). */
  readonly own: Set<string>;
}

class ModuleCompiler {
  private readonly constants: unknown[] = [];
  private readonly constIndex = new Map<unknown, number>();
  private fn!: FnState;
  private labels = 0;
  private readonly source: Source;

  constructor(
    private readonly r: ResolvedFile,
    private readonly options: ResolvedFileOptions,
    private readonly moduleName: string,
  ) {
    this.source = r.file.source;
  }

  compile(): Program {
    const moduleCode: ModuleCode = { name: '<toplevel>', source: this.source };
    const codeConst = this.konst(moduleCode);
    this.fn = { temps: 0, codeConst, free: new Set(), own: new Set() };
    const body = this.stmts(this.r.file.stmts, '    ');
    const globals = [...this.r.globals, ...this.r.fileLocals];
    const exported = this.r.globals.length;
    const predeclared = [...this.r.predeclaredUsed];
    const universal = [...this.r.universalUsed].filter((n) => n !== 'None' && n !== 'True' && n !== 'False');
    const lines: string[] = [];
    lines.push('"use strict";');
    lines.push(`const {${RT_NAMES.map((n) => `${n}: $${n}`).join(', ')}} = $rt;`);
    lines.push('return function* $module($th, $pre, $uni) {');
    for (const n of predeclared) lines.push(`  const p_${jsName(n)} = $pre(${JSON.stringify(n)});`);
    for (const n of universal) lines.push(`  const u_${jsName(n)} = $uni(${JSON.stringify(n)});`);
    if (globals.length > 0) lines.push(`  let ${globals.map((g) => g.js).join(', ')};`);
    lines.push(`  let $p = 0${this.tempDecls()};`);
    lines.push(`  $th.stack.push(${codeConst});`);
    lines.push('  try {');
    lines.push(body);
    lines.push(`  } catch ($e) { throw $frame($e, ${codeConst}, $p); } finally { $th.stack.pop(); }`);
    lines.push(`  return [${globals.map((g) => g.js).join(', ')}];`);
    lines.push('};');
    const js = lines.join('\n');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const factory = new globalThis.Function('$rt', '$k', js) as Program['factory'];
    return {
      source: this.source,
      // File-local bindings (loads) come last and are not exported.
      globals: globals.slice(0, exported).map((g) => g.name),
      predeclared,
      universal,
      js,
      factory,
      constants: this.constants,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private konst(v: unknown): string {
    let i = this.constIndex.get(v);
    if (i === undefined) {
      i = this.constants.length;
      this.constants.push(v);
      if (typeof v !== 'object' || v === null) this.constIndex.set(v, i);
    }
    return `$k[${i}]`;
  }

  private temp(): string {
    return `$t${++this.fn.temps}`;
  }

  private tempDecls(): string {
    let s = '';
    for (let i = 1; i <= this.fn.temps; i++) s += `, $t${i}`;
    return s;
  }

  private binding(id: ast.Ident): Binding {
    const b = this.r.bindings.get(id);
    if (!b) throw new Error(`internal error: unresolved identifier ${id.name}`);
    return b;
  }

  // ---------------------------------------------------------------------------------------------
  // Statements

  private stmts(stmts: readonly ast.Stmt[], ind: string): string {
    return stmts.map((s) => this.stmt(s, ind)).join('\n');
  }

  private stmt(s: ast.Stmt, ind: string): string {
    switch (s.kind) {
      case 'ExprStmt':
        return `${ind}${this.expr(s.x)};`;
      case 'AssignStmt':
        return this.assignStmt(s, ind);
      case 'DefStmt': {
        let f = this.functionExpr(s, s.name.name, s.params, s.defPos, (inner) => this.stmts(s.body, inner));
        // Decorators apply bottom-up: @a @b def f → f = a(b(f)).
        for (let i = s.decorators.length - 1; i >= 0; i--) {
          const d = s.decorators[i]!;
          f = this.callValue(this.expr(d), [f], null, d.span.start);
        }
        return `${ind}${this.binding(s.name).js} = ${f};`;
      }
      case 'ReturnStmt':
        return `${ind}return ${s.result ? this.expr(s.result) : 'null'};`;
      case 'IfStmt': {
        // An if/elif chain: its branches in order, then the final else (walked iteratively).
        const branches: { cond: ast.Expr; body: readonly ast.Stmt[] }[] = [];
        let cur: ast.IfStmt = s;
        let finalElse: readonly ast.Stmt[] = [];
        for (;;) {
          branches.push({ cond: cur.cond, body: cur.then });
          const next = cur.els.length === 1 && cur.els[0]!.kind === 'IfStmt' && cur.els[0]!.elif ? cur.els[0] : undefined;
          if (!next) {
            finalElse = cur.els;
            break;
          }
          cur = next;
        }
        const inner = ind + '  ';
        if (branches.length <= 32) {
          const parts = branches.map((b, i) => `${i === 0 ? ind : ' else '}if ($isTrue(${this.expr(b.cond)})) {\n${this.stmts(b.body, inner)}\n${ind}}`);
          const els = finalElse.length > 0 ? ` else {\n${this.stmts(finalElse, inner)}\n${ind}}` : '';
          return parts.join('') + els;
        }
        // A long chain would nest deeply as JS else-ifs: emit flat tests in a labelled block instead
        // (break/continue inside still refer to the enclosing loop, as a block is not a loop).
        const label = `$if${++this.labels}`;
        const parts = branches.map((b) => `${inner}if ($isTrue(${this.expr(b.cond)})) {\n${this.stmts(b.body, inner + '  ')}\n${inner}  break ${label};\n${inner}}`);
        return `${ind}${label}: {\n${parts.join('\n')}\n${this.stmts(finalElse, inner)}\n${ind}}`;
      }
      case 'ForStmt':
        return this.forLoop(s.vars, s.x, s.forPos, ind, (inner) => this.stmts(s.body, inner));
      case 'WhileStmt':
        return `${ind}while ($isTrue(${this.expr(s.cond)})) {\n${ind}  if (--$th.budget <= 0) yield* $tick($th);\n${this.stmts(s.body, ind + '  ')}\n${ind}}`;
      case 'BranchStmt':
        return s.token === 'pass' ? `${ind};` : `${ind}${s.token};`;
      case 'LoadStmt': {
        const t = this.temp();
        const mod = JSON.stringify(s.module.value);
        const out = [`${ind}$p = ${s.span.start}; ${t} = yield* $load($th, ${mod});`];
        for (const b of s.bindings) {
          out.push(`${ind}${this.binding(b.local).js} = $loadMember(${t}, ${JSON.stringify(utf8Decode(b.remote.value))}, ${mod});`);
        }
        return out.join('\n');
      }
      default: {
        const never: never = s;
        throw new Error(`unexpected statement ${(never as ast.Stmt).kind}`);
      }
    }
  }

  private assignStmt(s: ast.AssignStmt, ind: string): string {
    if (s.op === '=') {
      const t = this.temp();
      return `${ind}${t} = ${this.expr(s.rhs)};\n${this.assignTo(s.lhs, t, ind)}`;
    }
    const op = s.op.slice(0, -1);
    const lhs = s.lhs.kind === 'ParenExpr' ? s.lhs.x : s.lhs;
    const pos = s.opPos;
    switch (lhs.kind) {
      case 'Ident': {
        const b = this.binding(lhs);
        const rhs = this.expr(s.rhs);
        const y = this.temp();
        return `${ind}${y} = ${rhs}; $p = ${pos}; ${b.js} = ${this.augmentedOp(op, this.read(lhs), y)};`;
      }
      case 'IndexExpr': {
        const o = this.temp();
        const i = this.temp();
        const y = this.temp();
        return `${ind}${o} = ${this.expr(lhs.x)}; ${i} = ${this.expr(lhs.index)}; $p = ${lhs.lbrack}; ${y} = $index(${o}, ${i});\n` +
          `${ind}${y} = ${this.augmentedOp(op, y, `(${this.expr(s.rhs)})`, pos)}; $p = ${lhs.lbrack}; $setIndex(${o}, ${i}, ${y});`;
      }
      case 'DotExpr': {
        const o = this.temp();
        const y = this.temp();
        const name = sname(lhs.name.name);
        return `${ind}${o} = ${this.expr(lhs.x)}; $p = ${lhs.dot}; ${y} = $getAttr(${o}, ${name});\n` +
          `${ind}${y} = ${this.augmentedOp(op, y, `(${this.expr(s.rhs)})`, pos)}; $p = ${lhs.dot}; $setAttr(${o}, ${name}, ${y});`;
      }
      default:
        throw new Error(`internal error: bad augmented assignment target ${lhs.kind}`);
    }
  }

  private augmentedOp(op: string, x: string, y: string, pos?: number): string {
    const set = pos !== undefined ? `$p = ${pos}, ` : '';
    if (op === '+') return `(${set}$augmented("+", ${x}, ${y}))`;
    if (op === '|') return `(${set}$augmented("|", ${x}, ${y}))`;
    return `(${set}${this.binaryCall(op, x, y)})`;
  }

  /** Assigns the JS expression `v` (already evaluated into a temp) to a target. */
  private assignTo(lhs: ast.Expr, v: string, ind: string): string {
    switch (lhs.kind) {
      case 'Ident':
        return `${ind}${this.binding(lhs).js} = ${v};`;
      case 'ParenExpr':
        return this.assignTo(lhs.x, v, ind);
      case 'IndexExpr':
        return `${ind}$setIndex(${this.expr(lhs.x)}, ${this.expr(lhs.index)}, ($p = ${lhs.lbrack}, ${v}));`;
      case 'DotExpr':
        return `${ind}$setAttr(${this.expr(lhs.x)}, ${sname(lhs.name.name)}, ($p = ${lhs.dot}, ${v}));`;
      case 'TupleExpr':
      case 'ListExpr': {
        const a = this.temp();
        const out = [`${ind}$p = ${lhs.span.start}; ${a} = $unpack(${v}, ${lhs.elems.length});`];
        lhs.elems.forEach((e, i) => {
          const t = this.temp();
          out.push(`${ind}${t} = ${a}[${i}];`);
          out.push(this.assignTo(e, t, ind));
        });
        return out.join('\n');
      }
      default:
        throw new Error(`internal error: bad assignment target ${lhs.kind}`);
    }
  }

  /**
   * A `for` loop (or a comprehension's for clause). Lists, tuples, dict keys and sets iterate over an
   * array snapshot or the live array of a list locked against mutation; ranges iterate arithmetically.
   */
  private forLoop(vars: ast.Expr, x: ast.Expr, pos: number, ind: string, body: (ind: string) => string): string {
    const it = this.temp();
    const el = this.temp();
    const isRange = this.temp();
    const i = this.temp();
    const v = this.temp();
    const inner = ind + '    ';
    return [
      `${ind}${it} = ${this.expr(x)}; $p = ${pos}; ${el} = $iterElems(${it}); ${isRange} = ${el} instanceof $Range;`,
      `${ind}$lock(${it});`,
      `${ind}try {`,
      `${ind}  for (let ${i} = 0, $n = ${el}.length; ${i} < $n; ${i}++) {`,
      `${inner}if (--$th.budget <= 0) yield* $tick($th);`,
      `${inner}${v} = ${isRange} ? ${el}.start + ${i} * ${el}.step : ${el}[${i}];`,
      this.assignTo(vars, v, inner),
      body(inner),
      `${ind}  }`,
      `${ind}} finally { $unlock(${it}); }`,
    ].join('\n');
  }

  // ---------------------------------------------------------------------------------------------
  // Functions

  /**
   * Compiles a def or lambda into a JS expression that creates the Function value. The generator's
   * JS parameters are `$th` then the Starlark parameters in calling-convention order.
   */
  private functionExpr(
    node: ast.DefStmt | ast.LambdaExpr,
    name: string,
    params: readonly ast.Param[],
    pos: number,
    body: (ind: string) => string,
  ): string {
    const scope = this.r.functions.get(node)!;
    // Defaults (evaluated now, in the enclosing function), one slot per non-variadic param.
    const positional = params.filter((p): p is Extract<ast.Param, { kind: 'Param' }> => p.kind === 'Param');
    const starIdx = params.findIndex((p) => p.kind === 'StarParam');
    const isKwonly = (p: ast.Param): boolean => starIdx >= 0 && params.indexOf(p) > starIdx;
    const ordinary = positional.filter((p) => !isKwonly(p));
    const kwonly = positional.filter((p) => isKwonly(p));
    const star = params.find((p) => p.kind === 'StarParam' && p.name);
    const starstar = params.find((p) => p.kind === 'StarStarParam');
    const slots = [...ordinary, ...kwonly];
    const defaults = slots.map((p) => (p.default ? this.expr(p.default) : 'undefined'));
    const code: FunctionCode = {
      name,
      source: this.source,
      pos,
      end: node.span.end,
      // As Starlark strings (UTF-8), since keyword names at calls are strings too.
      params: [...ordinary.map((p) => p.name.name), ...(star && star.kind === 'StarParam' ? [star.name!.name] : []), ...kwonly.map((p) => p.name.name), ...(starstar && starstar.kind === 'StarStarParam' ? [starstar.name.name] : [])].map(utf8Encode),
      numPositional: ordinary.length,
      numKwonly: kwonly.length,
      hasVarargs: !!star,
      hasKwargs: !!starstar,
      hasDefaults: slots.some((p) => p.default),
    };
    const codeConst = this.konst(code);
    const saved = this.fn;
    this.fn = { temps: 0, codeConst, free: new Set(), own: new Set([...scope.params, ...scope.locals]) };
    // JS params: defaults refer to $d (the defaults array of this Function instance).
    const jsParams: string[] = [];
    let slot = 0;
    let pi = 0;
    for (const js of scope.params) {
      const isVariadic = (star && pi === ordinary.length) || (starstar && pi === scope.params.length - 1);
      if (isVariadic) jsParams.push(js);
      else {
        jsParams.push(`${js} = $d[${slot}]`);
        slot++;
      }
      pi++;
    }
    const inner = '      ';
    const bodyCode = body(inner);
    const locals = scope.locals.length > 0 ? `    let ${scope.locals.join(', ')};\n` : '';
    const fnCode = [
      `function* ($th${jsParams.map((p) => ', ' + p).join('')}) {`,
      `    $enter($th, ${codeConst}, ${this.options.recursion});`,
      `    if (--$th.budget <= 0) yield* $tick($th);`,
      locals + `    let $p = ${pos}${this.tempDecls()};`,
      `    try {`,
      bodyCode,
      `      return null;`,
      `    } catch ($e) { throw $frame($e, ${codeConst}, $p); } finally { $th.stack.pop(); }`,
      `  }`,
    ].join('\n');
    const innerFn = this.fn;
    this.fn = saved;
    // What the function captures, so that freezing it freezes them too (as in the reference).
    for (const js of innerFn.free) if (!saved.own.has(js)) saved.free.add(js);
    const captured = innerFn.free.size > 0 ? `, () => [${[...innerFn.free].join(', ')}]` : '';
    return `(($d) => $makeFunction(${codeConst}, $d, ${fnCode}, ${JSON.stringify(this.moduleName)}${captured}))([${defaults.join(', ')}])`;
  }

  // ---------------------------------------------------------------------------------------------
  // Expressions

  /** Reads a variable. */
  private read(id: ast.Ident): string {
    const b = this.binding(id);
    switch (b.scope) {
      case 'local':
      case 'free':
        if (b.scope === 'free') this.fn.free.add(b.js);
        return b.param ? b.js : `(${b.js} === undefined ? ($p = ${id.span.start}, $unboundLocal(${JSON.stringify(b.name)})) : ${b.js})`;
      case 'global':
      case 'filelocal':
        return `(${b.js} === undefined ? ($p = ${id.span.start}, $unboundGlobal(${JSON.stringify(b.name)})) : ${b.js})`;
      case 'predeclared':
        return b.js;
      case 'universal':
        if (b.name === 'None') return 'null';
        if (b.name === 'True') return 'true';
        if (b.name === 'False') return 'false';
        return b.js;
    }
  }

  private isSimple(e: ast.Expr): boolean {
    return e.kind === 'Ident' || e.kind === 'Literal';
  }

  /** `f(x, y)` with the error position set after both operands are evaluated. */
  private withPos(fn: string, x: string, y: ast.Expr, pos: number): string {
    if (this.isSimple(y)) return `${fn}(${x}, ($p = ${pos}, ${this.expr(y)}))`;
    const t = this.temp();
    return `${fn}(${x}, (${t} = ${this.expr(y)}, $p = ${pos}, ${t}))`;
  }

  /** `x, y` as two call arguments, with the error position set after both are evaluated. */
  private withPosValue(x: ast.Expr, y: ast.Expr, pos: number): string {
    if (this.isSimple(y)) return `${this.expr(x)}, ($p = ${pos}, ${this.expr(y)})`;
    const t = this.temp();
    return `${this.expr(x)}, (${t} = ${this.expr(y)}, $p = ${pos}, ${t})`;
  }

  private binaryCall(op: string, x: string, y: string): string {
    switch (op) {
      case '+': return `$add(${x}, ${y})`;
      case '-': return `$sub(${x}, ${y})`;
      case '*': return `$mul(${x}, ${y})`;
      case '/': return `$div(${x}, ${y})`;
      case '//': return `$floorDiv(${x}, ${y})`;
      case '%': return `$mod(${x}, ${y})`;
      case '|': case '&': case '^': case '<<': case '>>':
        return `$bitwise(${JSON.stringify(op)}, ${x}, ${y})`;
      default:
        throw new Error(`internal error: binary op ${op}`);
    }
  }

  expr(e: ast.Expr): string {
    switch (e.kind) {
      case 'Ident':
        return this.read(e);
      case 'Literal':
        switch (e.type) {
          case 'int':
            return typeof e.value === 'number' ? String(e.value) : this.konst(e.value);
          case 'float':
            return this.konst(new Float(e.value));
          case 'string':
            return JSON.stringify(e.value);
          case 'bytes':
            return this.konst(new Bytes(e.value));
        }
        break;
      case 'ParenExpr':
        return this.expr(e.x);
      case 'ListExpr':
        return `new $List([${e.elems.map((x) => this.expr(x)).join(', ')}])`;
      case 'TupleExpr':
        return e.elems.length === 0 ? '$EMPTY_TUPLE' : `new $Tuple([${e.elems.map((x) => this.expr(x)).join(', ')}])`;
      case 'DictExpr': {
        if (e.entries.length === 0) return 'new $Dict()';
        // Each entry is inserted once its key and value are evaluated, an error (unhashable or
        // duplicate key) being reported at its colon, as in go.starlark.net.
        let d = 'new $Dict()';
        for (const en of e.entries) d = `$dictPut(${d}, ${this.withPosValue(en.key, en.value, en.colon)})`;
        return d;
      }
      case 'CondExpr':
        return `($isTrue(${this.expr(e.cond)}) ? ${this.expr(e.then)} : ${this.expr(e.els)})`;
      case 'UnaryExpr': {
        if (e.op === 'not') return `!$isTrue(${this.expr(e.x)})`;
        const lit = e.x.kind === 'ParenExpr' ? e.x.x : e.x;
        if (e.op === '-' && lit.kind === 'Literal' && lit.type === 'int' && lit.value !== 0) {
          const neg = typeof lit.value === 'number' ? -lit.value : -lit.value;
          // A bigint literal is >= 2^53 in magnitude, so its negation stays a bigint.
          return typeof neg === 'number' ? `(${neg})` : this.konst(neg);
        }
        const x = this.isSimple(e.x) ? `($p = ${e.span.start}, ${this.expr(e.x)})` : this.evalThenPos(e.x, e.span.start);
        return `$unary(${JSON.stringify(e.op)}, ${x})`;
      }
      case 'BinaryExpr':
        return this.binary(e);
      case 'CallExpr':
        return this.call(e);
      case 'DotExpr':
        return `$getAttr(${this.isSimple(e.x) ? `($p = ${e.dot}, ${this.expr(e.x)})` : this.evalThenPos(e.x, e.dot)}, ${sname(e.name.name)})`;
      case 'IndexExpr':
        return this.withPos('$index', this.expr(e.x), e.index, e.lbrack);
      case 'SliceExpr': {
        const part = (p?: ast.Expr): string => (p ? this.expr(p) : 'null');
        const t = this.temp();
        return `(${t} = [${this.expr(e.x)}, ${part(e.lo)}, ${part(e.hi)}, ${part(e.step)}], $p = ${e.lbrack}, $slice(${t}[0], ${t}[1], ${t}[2], ${t}[3]))`;
      }
      case 'LambdaExpr':
        return this.functionExpr(e, 'lambda', e.params, e.lambdaPos, (ind) => `${ind}return ${this.expr(e.body)};`);
      case 'Comprehension':
        return this.comprehension(e);
    }
    throw new Error(`internal error: unexpected expression ${(e as ast.Expr).kind}`);
  }

  /** Evaluates x, then sets the error position: `(t = x, $p = pos, t)`. */
  private evalThenPos(x: ast.Expr, pos: number): string {
    const t = this.temp();
    return `(${t} = ${this.expr(x)}, $p = ${pos}, ${t})`;
  }

  private binary(e: ast.BinaryExpr): string {
    if (ARITHMETIC.has(e.op) && e.x.kind === 'BinaryExpr' && ARITHMETIC.has(e.x.op)) return this.arithmeticChain(e);
    const x = this.expr(e.x);
    switch (e.op) {
      case 'and': {
        const t = this.temp();
        return `($isTrue(${t} = ${x}) ? ${this.expr(e.y)} : ${t})`;
      }
      case 'or': {
        const t = this.temp();
        return `($isTrue(${t} = ${x}) ? ${t} : ${this.expr(e.y)})`;
      }
      case '==': return this.withPos('$eq', x, e.y, e.opPos);
      case '!=': return this.withPos('$ne', x, e.y, e.opPos);
      case '<': return this.withPos('$lt', x, e.y, e.opPos);
      case '>': return this.withPos('$gt', x, e.y, e.opPos);
      case '<=': return this.withPos('$le', x, e.y, e.opPos);
      case '>=': return this.withPos('$ge', x, e.y, e.opPos);
      case 'in': {
        const t = this.temp();
        return `(${t} = ${x}, $contains(${this.isSimple(e.y) ? `($p = ${e.opPos}, ${this.expr(e.y)})` : this.evalThenPos(e.y, e.opPos)}, ${t}))`;
      }
      case 'not in': {
        const t = this.temp();
        return `(${t} = ${x}, !$contains(${this.isSimple(e.y) ? `($p = ${e.opPos}, ${this.expr(e.y)})` : this.evalThenPos(e.y, e.opPos)}, ${t}))`;
      }
      default: {
        const y = this.isSimple(e.y) ? `($p = ${e.opPos}, ${this.expr(e.y)})` : this.evalThenPos(e.y, e.opPos);
        return this.binaryCall(e.op, x, y);
      }
    }
  }

  /**
   * A left-deep chain of arithmetic operators (`a + b + c - d ...`), compiled as a flat sequence on
   * one temporary: `(t = a, t = add(t, b), t = add(t, c), ..., t)`, so a long chain nests neither on
   * the compiler's stack nor in the generated code.
   */
  private arithmeticChain(e: ast.BinaryExpr): string {
    const spine: ast.BinaryExpr[] = [];
    let cur: ast.Expr = e;
    while (cur.kind === 'BinaryExpr' && ARITHMETIC.has(cur.op)) {
      spine.push(cur);
      cur = cur.x;
    }
    const t = this.temp();
    const parts = [`${t} = ${this.expr(cur)}`];
    for (let i = spine.length - 1; i >= 0; i--) {
      const b = spine[i]!;
      const y = this.isSimple(b.y) ? `($p = ${b.opPos}, ${this.expr(b.y)})` : this.evalThenPos(b.y, b.opPos);
      parts.push(`${t} = ${this.binaryCall(b.op, t, y)}`);
    }
    return `(${parts.join(', ')}, ${t})`;
  }

  /** A call expression. */
  private call(e: ast.CallExpr): string {
    const simple = e.args.every((a) => a.kind === 'PosArg');
    // Method call on a built-in type: x.name(args) without allocating a bound method. As in the
    // reference, the attribute is looked up (and a missing one reported) before the arguments run.
    if (e.fn.kind === 'DotExpr' && e.args.every((a) => a.kind === 'PosArg' || a.kind === 'KwArg')) {
      const recv = this.temp();
      const impl = this.temp();
      const bound = this.temp();
      const r = this.temp();
      const name = sname(e.fn.name.name);
      const pos = e.args.filter((a) => a.kind === 'PosArg').map((a) => this.expr(a.value));
      const kw = e.args.filter((a): a is Extract<ast.Arg, { kind: 'KwArg' }> => a.kind === 'KwArg');
      const kwCode = kw.length > 0 ? `[${kw.map((a) => `[${sname(a.name.name)}, ${this.expr(a.value)}]`).join(', ')}]` : 'null';
      const args = this.temp();
      const kwt = this.temp();
      return (
        `(${recv} = ${this.expr(e.fn.x)}, $p = ${e.fn.dot}, ${impl} = $method(${recv}, ${name}), ` +
        `${bound} = ${impl} === undefined ? $getAttr(${recv}, ${name}) : null, ` +
        `${args} = [${pos.join(', ')}], ${kwt} = ${kwCode}, $p = ${e.lparen}, ` +
        `${impl} !== undefined ` +
        `? ((${r} = $callMethod($th, ${impl}, ${name}, ${recv}, ${args}, ${kwt}, $p)) instanceof $Pending ? (yield ${r}) : ${r}) ` +
        `: ${bound} instanceof $Builtin ? ((${r} = $callBuiltin($th, ${bound}, ${args}, ${kwt}, $p)) instanceof $Pending ? (yield ${r}) : ${r}) ` +
        `: (yield* $callGen($th, ${bound}, ${args}, ${kwt}, $p)))`
      );
    }
    const fn = this.expr(e.fn);
    if (simple) {
      const f = this.temp();
      const argTemps = e.args.map(() => this.temp());
      const r = this.temp();
      const n = e.args.length;
      const evalArgs = e.args.map((a, i) => `${argTemps[i]} = ${this.expr(a.value)}`);
      const list = argTemps.join(', ');
      return (
        `(${f} = ${fn}${evalArgs.map((a) => ', ' + a).join('')}, $p = ${e.lparen}, ` +
        (n <= 30
          ? `(${f} instanceof $Function && (${f}.posMask & ${2 ** n}) !== 0) ? (yield* ${f}.gen($th${argTemps.map((t) => ', ' + t).join('')})) : `
          : '') +
        `${f} instanceof $Builtin ? ((${r} = $callBuiltin($th, ${f}, [${list}], null, $p)) instanceof $Pending ? (yield ${r}) : ${r}) ` +
        `: (yield* $callGen($th, ${f}, [${list}], null, $p)))`
      );
    }
    // General call: keyword arguments, *args, **kwargs.
    const pos: string[] = [];
    const kw: string[] = [];
    let star = '';
    let starstar = '';
    for (const a of e.args) {
      switch (a.kind) {
        case 'PosArg': pos.push(this.expr(a.value)); break;
        case 'KwArg': kw.push(`[${sname(a.name.name)}, ${this.expr(a.value)}]`); break;
        case 'StarArg': star = this.expr(a.value); break;
        case 'StarStarArg': starstar = this.expr(a.value); break;
      }
    }
    let args = `[${pos.join(', ')}]`;
    let kwargs = kw.length > 0 ? `[${kw.join(', ')}]` : 'null';
    if (star || starstar) {
      // As in go.starlark.net, *args and **kwargs are evaluated after the other arguments, and
      // **kwargs is spread (and checked) before *args.
      const a = this.temp();
      const k = this.temp();
      const s = star ? this.temp() : '';
      const ss = starstar ? this.temp() : '';
      const prefix = `${a} = ${args}, ${k} = ${kwargs}` + (star ? `, ${s} = ${star}` : '') + (starstar ? `, ${ss} = ${starstar}` : '');
      const spreadKw = starstar ? `${k} = $spreadKwargs(${k}, ${ss}), ` : '';
      args = `(${prefix}, $p = ${e.lparen}, ${spreadKw}${star ? `$spreadArgs(${a}, ${s})` : a})`;
      kwargs = k;
    }
    return this.callValue(fn, [], null, e.lparen, args, kwargs);
  }

  /** Calls an already-compiled callee expression with compiled positional args. */
  private callValue(fn: string, args: string[], _kw: null, pos: number, argsExpr?: string, kwExpr?: string): string {
    const f = this.temp();
    const a = this.temp();
    const k = this.temp();
    const r = this.temp();
    return (
      `(${f} = ${fn}, ${a} = ${argsExpr ?? `[${args.join(', ')}]`}, ${k} = ${kwExpr ?? 'null'}, $p = ${pos}, ` +
      `${f} instanceof $Builtin ? ((${r} = $callBuiltin($th, ${f}, ${a}, ${k}, $p)) instanceof $Pending ? (yield ${r}) : ${r}) ` +
      // A Starlark function: bind the arguments and delegate directly (no generator in between).
      `: ${f} instanceof $Function ? (yield* ${f}.gen($th, ...$bindArgs(${f}, ${a}, ${k}))) ` +
      `: (yield* $callGen($th, ${f}, ${a}, ${k}, $p)))`
    );
  }

  /** A list or dict comprehension: an inline generator so that loops may suspend. */
  private comprehension(e: ast.Comprehension): string {
    const scope = this.r.comprehensions.get(e)!;
    for (const js of scope.locals) this.fn.own.add(js);
    const res = this.temp();
    const ind = '      ';
    const build = (i: number, ind: string): string => {
      if (i === e.clauses.length) {
        if (e.body.kind === 'DictEntry') {
          return `${ind}$p = ${e.body.colon}; ${res}.set(${this.expr(e.body.key)}, ${this.expr(e.body.value)});`;
        }
        return `${ind}$push($th, ${res}, ${this.expr(e.body)});`;
      }
      const c = e.clauses[i]!;
      if (c.kind === 'IfClause') {
        return `${ind}if ($isTrue(${this.expr(c.cond)})) {\n${build(i + 1, ind + '  ')}\n${ind}}`;
      }
      return this.forLoop(c.vars, c.x, c.forPos, ind, (inner) => build(i + 1, inner));
    };
    const body = build(0, ind);
    const locals = scope.locals.length > 0 ? `let ${scope.locals.join(', ')}; ` : '';
    return `(yield* (function* () { ${locals}${res} = ${e.curly ? 'new $Dict()' : 'new $List([])'};\n${body}\n      return ${res}; })())`;
  }
}
