/**
 * This file posts the results of queued task attempts to their runs' inboxes (scale-out notes
 * §5.3): inside the transaction that takes the tasks out of the queue (`PostgresTaskQueue.finish`),
 * so a result is posted exactly when its task leaves the queue. Each message is deduplicated by the
 * lease that produced it (`taskId:epoch`), and a parked run (nobody holds it) becomes claimable at
 * once, as `postInbox` does for a signal. A run that has ended takes no message.
 */
import type { ClientBase } from 'pg';
import type { Json } from '../../core/json.js';
import { TASK_RESULT_SIGNAL } from '../../core/ports.js';

/** One result to post: the run, the message's payload, and its dedupe key. */
export interface TaskResultPost {
  readonly runId: string;
  readonly payload: Json;
  readonly key: string;
}

export const POST_TASK_RESULTS_SQL = `
  WITH v AS (SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[]) AS v(run_id, payload, key)),
       live AS (SELECT r.run_id, r.owner FROM runs r WHERE r.run_id IN (SELECT run_id FROM v) AND r.status = 'running'
                 ORDER BY r.run_id FOR NO KEY UPDATE),
       ins AS (INSERT INTO inbox (run_id, kind, name, payload, key, posted_at)
               SELECT v.run_id, 'signal', $4, v.payload, v.key, (extract(epoch FROM now()) * 1000)::bigint
                 FROM v JOIN live USING (run_id)
               ON CONFLICT (run_id, key) WHERE key IS NOT NULL DO NOTHING
               RETURNING run_id)
  UPDATE runs r SET lease_until = '-infinity', wake_at = NULL
    FROM live
   WHERE r.run_id = live.run_id AND live.owner IS NULL AND r.run_id IN (SELECT run_id FROM ins)`;

/** Posts results on `client` (in the caller's transaction). */
export async function postTaskResults(client: ClientBase, posts: readonly TaskResultPost[]): Promise<void> {
  if (posts.length === 0) return;
  await client.query(POST_TASK_RESULTS_SQL, [posts.map((p) => p.runId), posts.map((p) => JSON.stringify(p.payload)), posts.map((p) => p.key), TASK_RESULT_SIGNAL]);
}
