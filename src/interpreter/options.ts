/**
 * This file defines the dialect options of a file (static: they change what the resolver accepts)
 * and their defaults. All are off by default, as in go.starlark.net, except where noted.
 */

/** Static dialect choices for one file. Each defaults to false. */
export interface FileOptions {
  /** Allow the `set` builtin. @default false */
  readonly set?: boolean;
  /** Allow `while` loops. @default false */
  readonly while?: boolean;
  /** Allow recursive calls (a function calling itself, directly or not). @default false */
  readonly recursion?: boolean;
  /** Allow reassigning a global (`x = 1; x = 2` at top level). @default false */
  readonly globalReassign?: boolean;
  /** Allow `if`, `for` and `while` at top level. @default false */
  readonly topLevelControl?: boolean;
  /** Make `load` bind names as globals of the module (exported) rather than file-locals. @default false */
  readonly loadBindsGlobally?: boolean;
  /** larkflow extension: `@expr` on the line before `def` means `f = expr(f)`. @default false */
  readonly decorators?: boolean;
}

export type ResolvedFileOptions = Required<FileOptions>;

export function resolveFileOptions(o: FileOptions = {}): ResolvedFileOptions {
  return {
    set: o.set ?? false,
    while: o.while ?? false,
    recursion: o.recursion ?? false,
    globalReassign: o.globalReassign ?? false,
    topLevelControl: o.topLevelControl ?? false,
    loadBindsGlobally: o.loadBindsGlobally ?? false,
    decorators: o.decorators ?? false,
  };
}

/** The option names as written in test files and on the command line (`option:globalreassign`). */
export const OPTION_NAMES: Record<string, keyof FileOptions> = {
  set: 'set',
  while: 'while',
  recursion: 'recursion',
  globalreassign: 'globalReassign',
  toplevelcontrol: 'topLevelControl',
  loadbindsglobally: 'loadBindsGlobally',
  decorators: 'decorators',
};
