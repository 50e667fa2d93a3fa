import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Engine } from '../../src/engine/index.js';
import { scratchDirs } from '../helpers/cli.js';
import { pcli } from './helpers.js';

const scratch = scratchDirs('larkflow-pipelines-cli-');

const SPEC = `apiVersion: michelangelo.api/v2
kind: Pipeline
metadata: {namespace: ns, name: greet}
spec:
  manifest:
    filePath: wf.star
    inputs: {who: world, times: 1}
    environ: {GREETING: hello}
    tasks: tasks.mjs
`;

function project(): { dir: string; db: string; yaml: string; write: (name: string, text: string) => void } {
  const s = scratch();
  const write = (name: string, text: string): void => {
    mkdirSync(join(s.dir, name, '..'), { recursive: true });
    writeFileSync(join(s.dir, name), text);
  };
  write('wf.star', 'shout = task("shout")\n\n@workflow()\ndef greet(who, times = 1):\n    return {"v": 1, "text": shout(os.environ["GREETING"] + " " + who), "times": times, "pipeline": os.environ.get("LARKFLOW_PIPELINE")}\n');
  write('tasks.mjs', 'export const shout = (s) => s.toUpperCase();\n');
  write('pipeline.yaml', SPEC);
  return { dir: s.dir, db: s.db, yaml: join(s.dir, 'pipeline.yaml'), write };
}

describe('larkflow pipeline', () => {
  it('apply prints the revision, created then unchanged; list, revisions, get, delete', async () => {
    const p = project();
    const a = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^pipeline greet revision [0-9a-f]{12} \(created\)\n$/);
    const rev = a.out.split(' ')[3]!;
    expect((await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db)).out).toBe(`pipeline greet revision ${rev} (unchanged)\n`);

    const list = await pcli('pipeline', 'list', '--db', p.db);
    expect(list.out).toMatch(new RegExp(`^NAME +NAMESPACE +REVISION +REVISIONS +UPDATED\\ngreet +ns +${rev} +1 +\\d{4}-`));
    const get = await pcli('pipeline', 'get', 'greet', '--db', p.db);
    expect(get.out).toContain(SPEC);
    expect(get.out.split('\n')[0]).toMatch(new RegExp(`^# pipeline greet revision ${rev}[0-9a-f]{52} \\(#1\\)`));
    const json = JSON.parse((await pcli('pipeline', 'get', 'greet', '--json', '--db', p.db)).out) as { revision: string; files: string[]; inputs: unknown; tasks: { digest: string } };
    expect(json.revision.startsWith(rev)).toBe(true);
    expect(json.files).toEqual(['wf.star']);
    expect(json.inputs).toEqual({ who: 'world', times: 1 });

    p.write('wf.star', 'shout = task("shout")\n\n@workflow()\ndef greet(who, times = 1):\n    return {"v": 2}\n');
    const b = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(b.out).toMatch(/\(created\)/);
    const revs = await pcli('pipeline', 'revisions', 'greet', '--db', p.db);
    expect(revs.out.trim().split('\n').map((l) => l.split(/\s+/).filter((x) => x !== '').length)).toEqual([4, 4, 5]);
    expect(revs.out).toMatch(new RegExp(`\\n1 +${rev} `));
    expect(revs.out.trim().split('\n')[2]).toMatch(/latest$/);
    expect((await pcli('pipeline', 'get', 'greet', '--revision', '#1', '--db', p.db)).out).toContain(`revision ${rev}`);

    const d = await pcli('pipeline', 'delete', 'greet', '--db', p.db);
    expect(d.out).toMatch(/^pipeline greet deleted/);
    expect((await pcli('pipeline', 'list', '--db', p.db)).err).toMatch(/no pipelines/);
    const refused = await pcli('pipeline', 'run', 'greet', '--db', p.db);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/pipeline greet was deleted at .*: it takes no new runs/);
  });

  it('a bad yaml: the rendered problems with positions, exit 2, nothing registered', async () => {
    const p = project();
    p.write('pipeline.yaml', SPEC.replace('inputs:', 'inptus:').replace('michelangelo.api/v2', 'v2'));
    const r = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(`${p.yaml}:1:13: apiVersion is "v2" (expected one of michelangelo.api/v2, larkflow.dev/v1)\n  apiVersion: v2\n              ^\n`);
    expect(r.err).toContain(`${p.yaml}:7:5: unknown field "inptus" in spec.manifest (did you mean "inputs"?)`);
    expect(r.err).toMatch(/2 problems in /);
    expect(readdirSync(p.dir)).not.toContain('runs.db');
    const missing = await pcli('pipeline', 'apply', '-f', join(p.dir, 'nope.yaml'), '--db', p.db);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read pipeline spec .*nope.yaml: no such file/);
    p.write('pipeline.yaml', SPEC.replace('wf.star', 'other.star'));
    const noWf = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(noWf.code).toBe(2);
    expect(noWf.err).toMatch(/spec.manifest.filePath other.star: no such file/);
    // The workflow is checked at apply time.
    p.write('pipeline.yaml', SPEC.replace('tasks: tasks.mjs', 'tasks: tasks.mjs\n    workflow: gret'));
    const typo = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(typo.code).toBe(2);
    expect(typo.err).toBe(`larkflow: ${p.yaml}: spec.manifest.workflow gret: wf.star has no such workflow (workflows: greet)\n`);
    p.write('pipeline.yaml', SPEC);
    p.write('wf.star', '@workflow()\ndef greet(:\n');
    const broken = await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/wf.star:2:11/);
    expect(readdirSync(p.dir)).not.toContain('runs.db');
  });

  it('unknown pipeline or revision: exit 2 with what exists', async () => {
    const p = project();
    await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    const r = await pcli('pipeline', 'run', 'gret', '--db', p.db);
    expect(r.code).toBe(2);
    expect(r.err).toBe('larkflow: no pipeline named gret (pipelines: greet)\n');
    const v = await pcli('pipeline', 'get', 'greet', '--revision', 'abc', '--db', p.db);
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/^larkflow: pipeline greet has no revision abc \(revisions: #1 [0-9a-f]{12}\)\n$/);
  });

  it('run uses the registered files (workflow and tasks) even after the working files changed; records the pipeline and revision', async () => {
    const p = project();
    const rev = (await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db)).out.split(' ')[3]!;
    p.write('wf.star', '@workflow()\ndef greet(who, times = 1):\n    return "changed"\n');
    p.write('tasks.mjs', 'export const shout = (s) => s.toLowerCase() + "?";\n');
    const r = await pcli('pipeline', 'run', 'greet', 'times=3', '--db', p.db);
    expect(r.err).toMatch(/completed/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ v: 1, text: 'HELLO WORLD', times: 3, pipeline: 'greet' });
    // The stored tasks text was loaded from a temporary sibling file, removed afterwards.
    expect(readdirSync(p.dir).filter((f) => f.startsWith('.larkflow-tasks-'))).toEqual([]);

    const engine = Engine.open({ db: p.db });
    try {
      const [run] = engine.runs();
      const started = engine.history(run!.runId)[0]!;
      expect(started.kind).toBe('RunStarted');
      if (started.kind !== 'RunStarted') return;
      expect(started.env.LARKFLOW_PIPELINE).toBe('greet');
      expect(started.env.LARKFLOW_PIPELINE_REVISION!.startsWith(rev)).toBe(true);
      expect(started.env.LARKFLOW_PIPELINE_REVISION).toMatch(/^[0-9a-f]{64}$/);
      expect(started.kwargs).toEqual({ who: 'world', times: 3 });
    } finally {
      await engine.close();
    }

    // dev-run uses the working files, and does not register them.
    const dev = await pcli('pipeline', 'dev-run', '-f', p.yaml, '--db', p.db, '-q');
    expect(dev.code).toBe(0);
    expect(JSON.parse(dev.out)).toBe('changed');
    expect((await pcli('pipeline', 'revisions', 'greet', '--db', p.db)).out.trim().split('\n')).toHaveLength(2);
    p.write('wf.star', 'shout = task("shout")\n\n@workflow()\ndef greet(who, times = 1):\n    return shout(who) + os.environ["LARKFLOW_PIPELINE_REVISION"] + os.environ["GREETING"]\n');
    const dev2 = await pcli('pipeline', 'dev-run', '-f', p.yaml, 'who=you', '--env', 'GREETING=hi', '--db', p.db, '-q');
    expect(JSON.parse(dev2.out)).toBe('you?devhi');
  });

  it('a failing run exits 1 with the task error; a bad input exits 2', async () => {
    const p = project();
    p.write('tasks.mjs', 'export const shout = () => { throw new Error("no voice"); };\n');
    await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
    const r = await pcli('pipeline', 'run', 'greet', '--db', p.db);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/task shout#1 failed: no voice/);
    const bad = await pcli('pipeline', 'run', 'greet', 'nope=1', '--db', p.db);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/nope/);
  });

  const BUNDLE = fileURLToPath(new URL('../../dist/bundle/larkflow.mjs', import.meta.url));
  it('manifest.executor sends the tasks to that executor (subprocess: `larkflow task-run` jobs; uses dist/, npm test builds first)', async () => {
    const p = project();
    p.write('pipeline.yaml', SPEC.replace('tasks: tasks.mjs', 'tasks: tasks.mjs\n    executor: subprocess'));
    // The subprocess executor starts `larkflow task-run` from PATH.
    p.write('bin/larkflow', `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BUNDLE)} "$@"\n`);
    chmodSync(join(p.dir, 'bin/larkflow'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${join(p.dir, 'bin')}:${path ?? ''}`;
    try {
      await pcli('pipeline', 'apply', '-f', p.yaml, '--db', p.db);
      const r = await pcli('pipeline', 'run', 'greet', '--db', p.db);
      expect(r.err).toMatch(/shout#1 +running +attempt 1 \(subprocess\)/);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ text: 'HELLO WORLD' });
    } finally {
      process.env.PATH = path;
    }
  });
});
