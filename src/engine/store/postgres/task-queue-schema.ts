/**
 * This file holds the PostgreSQL tables of the task queue (scale-out notes §5.3): tasks for
 * executors, claimed in batches with `FOR UPDATE SKIP LOCKED` through the partial index
 * `tasks_ready`, whose column order is the claim's ORDER BY (a claim ordered otherwise walks the
 * primary key and slows as the queue drains), the seats that cap a queue's concurrency, and
 * `task_history`, where a finished task moves (in the transaction that posts its result) so that
 * finished rows never stay in the hot table while `enqueue` still recognizes a finished key (its
 * one index is that key: each finished task costs one index entry, not two). The
 * store's migrations create them (postgres/migrations.ts); postgres/task-queue.ts uses them.
 */
export const TASK_QUEUE_DDL = `
CREATE TABLE IF NOT EXISTS tasks (
  task_id bigserial PRIMARY KEY,
  run_id text NOT NULL,
  step_key text NOT NULL,
  attempt int NOT NULL,
  queue text NOT NULL,
  executor text NOT NULL,
  status text NOT NULL DEFAULT 'queued',
  run_at timestamptz NOT NULL DEFAULT now(),
  owner text,
  epoch bigint NOT NULL DEFAULT 0,
  lease_until timestamptz,
  external_ref text,
  spec jsonb NOT NULL,
  UNIQUE (run_id, step_key, attempt)
) WITH (autovacuum_vacuum_scale_factor = 0.05, fillfactor = 80);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks (queue, run_at, task_id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS tasks_leased ON tasks (lease_until) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS task_slots (
  queue text NOT NULL,
  slot int NOT NULL,
  task_id bigint,
  PRIMARY KEY (queue, slot)
);
CREATE UNIQUE INDEX IF NOT EXISTS task_slots_task ON task_slots (task_id) WHERE task_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS task_history (
  task_id bigint NOT NULL,
  run_id text NOT NULL,
  step_key text NOT NULL,
  attempt int NOT NULL,
  queue text NOT NULL,
  executor text NOT NULL,
  owner text,
  epoch bigint NOT NULL,
  external_ref text,
  outcome text NOT NULL,
  result jsonb,
  finished_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step_key, attempt)
);
`;
