import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Engine } from '../../src/engine/index.js';
import { PipelineRegistry, PipelineUsageError } from '../../src/pipelines/registry.js';
import { scratchDirs } from '../helpers/cli.js';

const scratch = scratchDirs('larkflow-pipelines-reg-');

const SPEC = (extra = ''): string => `apiVersion: larkflow.dev/v1
kind: Pipeline
metadata: {namespace: ns, name: demo}
spec:
  manifest:
    filePath: wf/main.star
    inputs: {n: 2}
    environ: {MODE: test}
    tasks: tasks.mjs
${extra}`;

function project(): { dir: string; db: string; yaml: string; write: (name: string, text: string) => void } {
  const s = scratch();
  const write = (name: string, text: string): void => {
    mkdirSync(join(s.dir, name, '..'), { recursive: true });
    writeFileSync(join(s.dir, name), text);
  };
  write('wf/main.star', 'load("lib.star", "twice")\n\ndouble = task("double")\n\n@workflow()\ndef main(n = 1):\n    return twice(double(n))\n');
  write('wf/lib.star', 'def twice(x):\n    return [x, x]\n');
  write('tasks.mjs', 'export const double = (n) => 2 * n;\n');
  write('pipeline.yaml', SPEC());
  return { dir: s.dir, db: s.db, yaml: join(s.dir, 'pipeline.yaml'), write };
}

describe('PipelineRegistry', () => {
  it('applies: created, unchanged (a no-op), changed (a new revision); an earlier content is that revision again', async () => {
    const p = project();
    let now = 1000;
    const reg = PipelineRegistry.open(p.db, { now: () => now });
    try {
      const first = await reg.apply(p.yaml);
      expect(first).toMatchObject({ name: 'demo', seq: 1, created: true });
      expect(first.revision).toMatch(/^[0-9a-f]{64}$/);
      now = 2000;
      expect(await reg.apply(p.yaml)).toEqual({ ...first, created: false });
      // Only the yaml's layout changed: the same content.
      p.write('pipeline.yaml', '# a comment\n' + SPEC());
      expect((await reg.apply(p.yaml)).revision).toBe(first.revision);
      expect(reg.pipeline('demo')!.updatedAt).toBe(1000);

      // A loaded file, the tasks module and the spec each make a new revision.
      p.write('wf/lib.star', 'def twice(x):\n    return [x, x, x]\n');
      const second = await reg.apply(p.yaml);
      expect(second).toMatchObject({ seq: 2, created: true });
      p.write('tasks.mjs', 'export const double = (n) => n + n;\n');
      const third = await reg.apply(p.yaml);
      expect(third).toMatchObject({ seq: 3, created: true });
      p.write('pipeline.yaml', SPEC().replace('{n: 2}', '{n: 3}'));
      const fourth = await reg.apply(p.yaml);
      expect(fourth).toMatchObject({ seq: 4, created: true });
      expect(new Set([first.revision, second.revision, third.revision, fourth.revision]).size).toBe(4);

      // Back to the third content: that revision becomes the latest again, nothing is created.
      p.write('pipeline.yaml', SPEC());
      const back = await reg.apply(p.yaml);
      expect(back).toEqual({ name: 'demo', revision: third.revision, seq: 3, created: false });
      expect(reg.pipeline('demo')!.latest).toBe(third.revision);
      expect(reg.revisions('demo').map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    } finally {
      reg.close();
    }
  });

  it('stores the bundle, tasks text and resolved config; get by id, prefix or #N', async () => {
    const p = project();
    const reg = PipelineRegistry.open(p.db);
    try {
      const { revision } = await reg.apply(p.yaml);
      const r = reg.get('demo');
      expect(r.revision).toBe(revision);
      expect(r.files.map((f) => f.path)).toEqual(['main.star', 'lib.star']);
      expect(r.inputs).toEqual({ n: 2 });
      expect(r.environ).toEqual({ MODE: 'test' });
      expect(r.tasks).toMatchObject({ path: join(p.dir, 'tasks.mjs'), text: 'export const double = (n) => 2 * n;\n' });
      expect(r.spec.metadata.namespace).toBe('ns');
      expect(r.specText).toBe(SPEC());
      expect(reg.get('demo', revision.slice(0, 8)).revision).toBe(revision);
      expect(reg.get('demo', '#1').revision).toBe(revision);
      expect(() => reg.get('demo', 'ffff')).toThrow(/pipeline demo has no revision ffff \(revisions: #1 [0-9a-f]{12}\)/);
      expect(() => reg.get('dmeo')).toThrow(PipelineUsageError);
      expect(() => reg.get('dmeo')).toThrow('no pipeline named dmeo (pipelines: demo)');
      expect(reg.list().map((x) => [x.name, x.namespace, x.revisions])).toEqual([['demo', 'ns', 1]]);
    } finally {
      reg.close();
    }
  });

  it('deletes softly: out of list, revisions kept; apply restores it', async () => {
    const p = project();
    const reg = PipelineRegistry.open(p.db);
    try {
      const { revision } = await reg.apply(p.yaml);
      expect(reg.delete('demo')).toBe(true);
      expect(reg.delete('demo')).toBe(false);
      expect(reg.list()).toEqual([]);
      expect(reg.list({ includeDeleted: true })[0]!.deletedAt).toBeTypeOf('number');
      expect(reg.revisions('demo').map((r) => r.revision)).toEqual([revision]);
      expect(await reg.apply(p.yaml)).toMatchObject({ revision, created: false });
      expect(reg.list().map((x) => x.name)).toEqual(['demo']);
      expect(() => reg.delete('nope')).toThrow(/no pipeline named nope/);
    } finally {
      reg.close();
    }
  });

  it('shares the run database: the engine opens it afterwards, and the registry opens an engine database', async () => {
    const p = project();
    PipelineRegistry.open(p.db).close();
    const engine = Engine.open({ db: p.db });
    engine.registerTask('double', (n: number) => 2 * n);
    const run = engine.start({ file: join(p.dir, 'wf/main.star'), kwargs: { n: 4 } });
    expect((await run.result).result).toEqual([8, 8]);
    await engine.close();
    const reg = PipelineRegistry.open(p.db);
    await reg.apply(p.yaml);
    reg.close();
    const db = new Database(p.db, { readonly: true });
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'pipeline%' ORDER BY name").pluck().all();
    expect(tables).toEqual(['pipeline_notifications', 'pipeline_revisions', 'pipelines']);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('a Uniflow .py file: the bundle is the file; its __main__ defaults under the spec\'s inputs and environ', async () => {
    const s = scratch();
    copyFileSync(fileURLToPath(new URL('../../examples/python-pipeline/iris_workflow.py', import.meta.url)), join(s.dir, 'iris_workflow.py'));
    const yaml = s.file('p.yaml', 'apiVersion: michelangelo.api/v2\nkind: Pipeline\nmetadata: {name: iris-py}\nspec:\n  manifest: {filePath: iris_workflow.py, inputs: {seed: 9}}\n');
    const reg = PipelineRegistry.open(s.db);
    try {
      await reg.apply(yaml);
      const r = reg.get('iris-py');
      expect(r.files.map((f) => f.path)).toEqual(['iris_workflow.py']);
      expect(r.workflow).toBe('iris_pipeline');
      expect(r.inputs).toEqual({ seed: 9, min_accuracy: 0.9 });
    } finally {
      reg.close();
    }
  });

  it('refuses a file that is not a larkflow database', () => {
    const s = scratch();
    const db = new Database(s.db);
    db.exec('CREATE TABLE other (x)');
    db.close();
    expect(() => PipelineRegistry.open(s.db)).toThrow(/not|larkflow/);
    expect(existsSync(s.db)).toBe(true);
  });
});
