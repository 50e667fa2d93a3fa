import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateStandardWorkflow, starlarkLiteral } from '../../src/pipelines/standard/index.js';
import { scratchDirs } from '../helpers/cli.js';
import { pcli } from './helpers.js';

const scratch = scratchDirs('larkflow-pipelines-std-');
const EXAMPLES = fileURLToPath(new URL('../../examples/pipelines/standard/', import.meta.url));

describe('standard pipelines', () => {
  it('generate a workflow from the config: top-level task declarations, params as a literal, ./ commands made absolute', () => {
    const g = generateStandardWorkflow('train', { tasks: { load_data: { command: ['node', './steps/load_data.mjs'] }, train: { command: ['python3', 'train.py'], retries: 2, timeout: '5m', cache: true } }, params: { n: 3, ok: true, none: null, s: 'a"b' } }, EXAMPLES);
    expect(g.workflow).toBe('train_pipeline');
    expect(g.text).toContain(`load_data = task("load_data", command = ["node", ${JSON.stringify(join(EXAMPLES, 'steps/load_data.mjs'))}])\n`);
    expect(g.text).toContain('train = task("train", command = ["python3", "train.py"], retries = 2, timeout = "5m", cache = True)\n');
    expect(g.text).toContain('PARAMS = {"n": 3, "ok": True, "none": None, "s": "a\\"b"}\n');
    expect(g.text).not.toContain('evaluate(');
    expect(Object.keys(g.code)).toEqual([join(EXAMPLES, 'steps/load_data.mjs')]);
    expect(starlarkLiteral([1.5, [], {}])).toBe('[1.5, [], {}]');
  });

  it('train runs end to end with its example config; params are overridden by inputs', async () => {
    const s = scratch();
    const yaml = join(EXAMPLES, 'train.yaml');
    const a = await pcli('pipeline', 'apply', '-f', yaml, '--db', s.db);
    expect(a.out).toMatch(/^pipeline linear-train revision [0-9a-f]{12} \(created\)/);
    const r = await pcli('pipeline', 'run', 'linear-train', 'n=20', '--db', s.db);
    expect(r.err).toMatch(/load_data#1 +completed[\s\S]*train#1 +completed[\s\S]*evaluate#1 +completed/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { model: { w: number; b: number; trained_on: number }; metrics: { mse: number; r2: number; n: number } };
    expect(out.model.trained_on).toBe(20);
    expect(out.model.w).toBeCloseTo(2, 1);
    expect(out.model.b).toBeCloseTo(1, 0);
    expect(out.metrics.n).toBe(20);
    expect(out.metrics.r2).toBeGreaterThan(0.99);
  });

  it('evaluate runs end to end with its example config', async () => {
    const s = scratch();
    const r = await pcli('pipeline', 'dev-run', '-f', join(EXAMPLES, 'evaluate.yaml'), '--db', s.db, '-q');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { metrics: { mse: number; r2: number; n: number } };
    expect(out.metrics.n).toBe(30);
    expect(out.metrics.r2).toBeGreaterThan(0.99);
    // A worse model, as an input: worse metrics.
    const worse = await pcli('pipeline', 'dev-run', '-f', join(EXAMPLES, 'evaluate.yaml'), 'model={"w": 1, "b": 0}', '--db', s.db, '-q');
    expect((JSON.parse(worse.out) as { metrics: { r2: number } }).metrics.r2).toBeLessThan(0.5);
  });

  it('batch_predict runs end to end with its example config, writing its output', async () => {
    const s = scratch();
    await pcli('pipeline', 'apply', '-f', join(EXAMPLES, 'batch_predict.yaml'), '--db', s.db);
    const target = join(s.dir, 'out.jsonl');
    const r = await pcli('pipeline', 'run', 'linear-batch-predict', 'n=4', `output=${target}`, '--db', s.db, '-q');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { predictions: { x: number; prediction: number }[]; output: { path: string; count: number } };
    expect(out.predictions).toHaveLength(4);
    for (const p of out.predictions) expect(p.prediction).toBeCloseTo(2 * p.x + 1, 3);
    expect(out.output).toEqual({ path: target, count: 4 });
    expect(readFileSync(target, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(out.predictions);
  });

  it('a changed step script makes a new revision', async () => {
    const s = scratch();
    const step = s.file('step.mjs', 'import { writeFileSync, readFileSync } from "node:fs";\nwriteFileSync(process.env.LARKFLOW_OUTPUT, JSON.stringify({ rows: [] }));\n');
    const yaml = s.file(
      'p.yaml',
      `apiVersion: larkflow.dev/v1\nkind: Pipeline\nmetadata: {name: s}\nspec:\n  standard: evaluate\n  config:\n    tasks:\n      load_data: {command: [node, ./step.mjs]}\n      evaluate: {command: [node, ./step.mjs]}\n`,
    );
    const first = await pcli('pipeline', 'apply', '-f', yaml, '--db', s.db);
    expect(first.out).toMatch(/\(created\)/);
    writeFileSync(step, readFileSync(step, 'utf8') + '// changed\n');
    const second = await pcli('pipeline', 'apply', '-f', yaml, '--db', s.db);
    expect(second.out).toMatch(/\(created\)/);
    expect(second.out).not.toBe(first.out);
  });
});
