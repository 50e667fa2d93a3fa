/**
 * End-to-end test of the Iris pipeline example: runs pipeline.star with the tasks of tasks.mjs
 * through the Engine API on a temporary SQLite database, then checks the result, the recorded steps
 * (call sites, data flow), the metric branch and replay.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, type RunResult, type StepState } from '../../src/engine/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const PIPELINE = join(here, 'pipeline.star');

interface PerClass {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}
interface PipelineResult {
  status: string;
  model: { name: string; version: string; uri: string };
  candidate: string;
  metrics: { accuracy: number; train_accuracy: number; macro: { f1: number }; per_class: PerClass[]; confusion: number[][] };
  tried: { candidate: string; accuracy: number }[];
  data: { rows: number; train: number; test: number };
}

let tmp: string;
let engine: Engine;
let registry: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'larkflow-iris-'));
  registry = join(tmp, 'models');
  engine = Engine.open({ db: join(tmp, 'larkflow.db'), workDir: join(tmp, 'attempts') });
  // tasks.mjs is plain JS without type declarations: load it by URL.
  const tasks = (await import(pathToFileURL(join(here, 'tasks.mjs')).href)) as Record<string, unknown>;
  engine.registerTasks(tasks);
});

afterAll(async () => {
  await engine?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function runPipeline(kwargs: Record<string, unknown>): Promise<RunResult> {
  const h = engine.start({ file: PIPELINE, workflow: 'iris_pipeline', kwargs: { registry, ...kwargs } });
  return h.result;
}

function step(steps: Readonly<Record<string, StepState>>, id: string): StepState {
  const s = steps[id];
  if (!s) throw new Error(`no step ${id} (steps: ${Object.keys(steps).join(', ')})`);
  return s;
}

describe('examples/ml-pipeline (Iris)', () => {
  let first: RunResult;

  beforeAll(async () => {
    first = await runPipeline({ seed: 7 });
  });

  it('completes and registers a model with a sane accuracy', () => {
    expect(first.status, JSON.stringify(first.error)).toBe('completed');
    const r = first.result as PipelineResult;
    expect(r.status).toBe('registered');
    expect(r.data).toMatchObject({ rows: 150, train: 105, test: 45 });
    expect(r.metrics.accuracy).toBeGreaterThan(0.8);
    expect(r.metrics.accuracy).toBeLessThanOrEqual(1);
    expect(r.metrics.per_class.map((m) => m.class)).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(r.metrics.per_class.reduce((a, m) => a + m.support, 0)).toBe(45);
    expect(r.metrics.macro.f1).toBeGreaterThan(0.8);
    // The quick candidate falls short of 0.9, so the workflow retrained with the full one.
    expect(r.tried.map((t) => t.candidate)).toEqual(['quick', 'full']);
    expect(r.tried[0]!.accuracy).toBeLessThan(0.9);
    expect(r.candidate).toBe('full');
    // The registered model is on disk, with its metrics and the run that produced it.
    expect(existsSync(r.model.uri)).toBe(true);
    const saved = JSON.parse(readFileSync(r.model.uri, 'utf8')) as { model: { weights: number[][] }; lineage: { run_id: string } };
    expect(saved.model.weights).toHaveLength(3);
    expect(saved.lineage.run_id).toBe(first.runId);
  });

  it('records every step with its call site', () => {
    const st = engine.state(first.runId);
    expect(st.status).toBe('completed');
    const expected = [
      'prepare_data#1',
      'train_model#1',
      'evaluate_model#1',
      'evaluate_model#2',
      'class_metrics#1',
      'class_metrics#2',
      'class_metrics#3',
      'macro_average#1',
      'train_model#2',
      'evaluate_model#3',
      'evaluate_model#4',
      'class_metrics#4',
      'class_metrics#5',
      'class_metrics#6',
      'macro_average#2',
      'register_model#1',
    ];
    expect([...st.order].sort()).toEqual([...expected].sort());
    for (const id of expected) {
      const s = step(st.steps, id);
      expect(s.status, id).toBe('completed');
      expect(s.callSite?.file, id).toMatch(/pipeline\.star$/);
      expect(s.callSite?.line, id).toBeGreaterThan(0);
    }
    // Steps scheduled from the same line share it: the two training runs, the per-class fan-out.
    expect(step(st.steps, 'train_model#1').callSite?.line).toBe(step(st.steps, 'train_model#2').callSite?.line);
    expect(step(st.steps, 'class_metrics#1').callSite?.line).toBe(step(st.steps, 'class_metrics#6').callSite?.line);
    expect(st.progress.some((p) => p.startsWith('registered iris-classifier'))).toBe(true);
  });

  it('records data flow between steps (inputsFrom)', () => {
    const st = engine.state(first.runId);
    const from = (id: string) => step(st.steps, id).inputsFrom.map((o) => `${o.arg}<-${o.step}`);
    expect(step(st.steps, 'prepare_data#1').inputsFrom).toEqual([]);
    expect(from('train_model#1')).toEqual(expect.arrayContaining(['0<-prepare_data#1', 'kw.classes<-prepare_data#1']));
    expect(from('train_model#2')).toContain('0<-prepare_data#1');
    expect(from('evaluate_model#1')).toEqual(expect.arrayContaining(['0<-train_model#1', '1<-prepare_data#1']));
    expect(from('class_metrics#1')).toContain('0<-evaluate_model#1');
    expect(from('register_model#1')).toEqual(expect.arrayContaining(['0<-train_model#2']));
  });

  it('replays its own history', () => {
    const report = engine.replay(first.runId);
    expect(report.mismatch?.message).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.events).toBeGreaterThan(30);
  });

  it('is deterministic: the same seed trains the same model', async () => {
    const again = await runPipeline({ seed: 7 });
    expect(again.status).toBe('completed');
    expect((again.result as PipelineResult).model.version).toBe((first.result as PipelineResult).model.version);
    expect((again.result as PipelineResult).metrics).toEqual((first.result as PipelineResult).metrics);
  });

  it('fails without registering when no candidate reaches the threshold', async () => {
    const r = await runPipeline({ seed: 7, min_accuracy: 0.999 });
    expect(r.status).toBe('failed');
    expect(r.error?.message).toMatch(/no candidate reached accuracy 99\.9%: quick=\d+\.\d%, full=\d+\.\d%/);
    const st = engine.state(r.runId);
    expect(st.order.filter((id) => id.startsWith('register_model'))).toEqual([]);
    expect(st.order.filter((id) => id.startsWith('train_model'))).toHaveLength(2);
    expect(engine.replay(r.runId).ok).toBe(true);
  });
});
