/**
 * This file lists what the Pipelines, Triggers and Cache pages show, read-only: the registered
 * pipelines (src/pipelines/registry.ts), their triggers with their state (paused, last tick) and next
 * tick, and the task cache's entries with their expiry and producing run. A database without
 * pipelines has no tables for them: the lists are empty and nothing is created.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Engine } from '../../engine/index.js';
import type { CacheRow, PipelineRow, TriggerRow } from '../api-types.js';

function hasTable(path: string, table: string): boolean {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[string], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(table) === 1;
  } finally {
    db.close();
  }
}

export async function listPipelines(dbPath: string | undefined): Promise<PipelineRow[]> {
  if (dbPath === undefined || !existsSync(dbPath) || !hasTable(dbPath, 'pipelines')) return [];
  const { PipelineRegistry } = await import('../../pipelines/registry.js');
  const reg = PipelineRegistry.open(dbPath);
  try {
    return reg.list().map((p) => {
      const rev = reg.get(p.name);
      return {
        name: p.name,
        ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        revision: p.latest,
        revisions: p.revisions,
        kind: rev.spec.spec.standard !== undefined ? 'standard' : 'custom',
        updatedAt: p.updatedAt,
      } satisfies PipelineRow;
    });
  } finally {
    reg.close();
  }
}

export async function listTriggers(dbPath: string | undefined, now: number): Promise<TriggerRow[]> {
  if (dbPath === undefined || !existsSync(dbPath) || !hasTable(dbPath, 'pipelines')) return [];
  const { PipelineRegistry } = await import('../../pipelines/registry.js');
  const { TriggerState, scheduleOf } = await import('../../pipelines/triggers/runner.js');
  const { nextTick } = await import('../../pipelines/triggers/schedule.js');
  const reg = PipelineRegistry.open(dbPath);
  const state = hasTable(dbPath, 'trigger_state') ? new TriggerState(dbPath) : undefined;
  try {
    const out: TriggerRow[] = [];
    for (const p of reg.list()) {
      const rev = reg.get(p.name);
      for (const [name, spec] of Object.entries(rev.spec.spec.manifest.triggerMap ?? {})) {
        const s = state?.get(p.name, name);
        const schedule = scheduleOf(spec);
        let next: number | undefined;
        try {
          next = schedule && !s?.paused ? nextTick(schedule, Math.max(now, s?.lastTick ?? 0)) : undefined;
        } catch {
          next = undefined;
        }
        out.push({
          pipeline: p.name,
          trigger: name,
          schedule: spec.cronSchedule ? `cron ${spec.cronSchedule.cron}${spec.cronSchedule.timezone ? ` (${spec.cronSchedule.timezone})` : ''}` : spec.intervalSchedule ? `every ${spec.intervalSchedule.interval}` : 'manual',
          paused: s?.paused ?? false,
          ...(s?.lastTick !== undefined ? { lastTick: s.lastTick } : {}),
          ...(next !== undefined ? { nextTick: next } : {}),
        });
      }
    }
    return out;
  } finally {
    reg.close();
    state?.close();
  }
}

/** True when the engine's cache index can be read without creating a file. */
export function cacheAvailable(engine: Engine, dbPath: string | undefined): boolean {
  void engine;
  return dbPath === undefined || existsSync(join(dirname(dbPath), 'cache.db'));
}

export function listCache(engine: Engine, dbPath: string | undefined, limit = 1000): CacheRow[] {
  if (!cacheAvailable(engine, dbPath)) return [];
  return engine.cache
    .list()
    .slice(0, limit)
    .map((e) => ({ key: e.key, task: e.task, runId: e.runId, stepId: e.stepId, createdAt: e.createdAt, expiresAt: e.expiresAt, bytes: e.size, hits: e.hits, ...(e.lastHitAt !== undefined ? { lastHitAt: e.lastHitAt } : {}) }));
}
