/**
 * This file defines how a workflow's script is collected and stored: the main file and every file it
 * loads (found by following `load` statements), stored by content digest with the run, so that replay
 * and recovery always use the code the run started with.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { Source, parseFile } from '../interpreter/index.js';
import { UsageError } from './core/errors.js';
import type { ScriptFile } from './core/ports.js';
import { digestOf } from '../util/hash.js';
import { resolveLoad, type ScriptBundle } from './workflow/machine.js';

/** A bundle plus its digest and the form stored in the database. */
export interface StoredScript {
  readonly digest: string;
  readonly files: ScriptFile[];
  readonly bundle: ScriptBundle;
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/**
 * Collects a workflow file and the files it loads. Paths are relative to the workflow root (the
 * directory of the main file), with POSIX separators; a file loaded from above the root keeps its
 * `..` segments ("../lib/x.star"), so the stored bundle resolves the same loads in recovery and replay.
 * @throws UsageError for a file that cannot be read, or a `//` load that leaves the root
 */
export function collectScript(file: string): StoredScript {
  const root = dirname(resolve(file));
  const mainRel = toPosix(relative(root, resolve(file)));
  const files = new Map<string, string>();
  const visit = (rel: string): void => {
    if (files.has(rel)) return;
    let text: string;
    try {
      text = readFileSync(resolve(root, rel), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const shown = rel === mainRel ? file : rel;
      throw new UsageError(
        code === 'ENOENT' ? `cannot read workflow file ${shown}: no such file` : code === 'EISDIR' ? `cannot read workflow file ${shown}: it is a directory` : `cannot read ${shown}: ${(e as Error).message}`,
      );
    }
    files.set(rel, text);
    if (rel !== mainRel && !rel.endsWith('.star')) return; // data files (load("x.json", v = "json"))
    let parsed;
    try {
      parsed = parseFile(new Source(rel, text));
    } catch {
      return; // the parse error is reported, with its position, when the run starts
    }
    for (const s of parsed.stmts) {
      if (s.kind === 'LoadStmt') {
        const m = s.module.value;
        if (m.startsWith('@')) continue; // library modules
        let target: string;
        try {
          target = resolveLoad(rel, m, root);
        } catch (e) {
          throw new UsageError(`${rel}: ${(e as Error).message}`);
        }
        visit(target);
      }
    }
  };
  visit(mainRel);
  return fromFiles(mainRel, files);
}

/** A bundle from in-memory sources (the main file first). */
export function fromFiles(main: string, files: ReadonlyMap<string, string>): StoredScript {
  const list: ScriptFile[] = [...files].map(([path, text]) => ({ path, text }));
  list.sort((a, b) => (a.path === main ? -1 : b.path === main ? 1 : a.path < b.path ? -1 : 1));
  return { digest: digestOf(list), files: list, bundle: { main, files } };
}

/** Rebuilds a bundle from stored files. */
export function fromStored(files: readonly ScriptFile[]): ScriptBundle {
  const map = new Map(files.map((f) => [f.path, f.text]));
  return { main: files[0]!.path, files: map };
}
