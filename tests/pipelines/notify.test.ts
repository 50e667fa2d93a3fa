/**
 * A pipeline's `spec.notifications` reach its runs: a WEBHOOK entry for SUCCEEDED is delivered to a
 * loopback receiver when `larkflow pipeline run` ends, with the pipeline named in the payload.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notifyOf } from '../../src/cli/commands/pipeline.js';
import { pcli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lf-pipe-notify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pipeline notifications', () => {
  it('maps spec.notifications to run notifications', () => {
    expect(
      notifyOf([
        { notificationType: 'WEBHOOK', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED', 'EVENT_TYPE_PIPELINE_RUN_STATE_KILLED'], url: 'http://x/hook' },
        { notificationType: 'EMAIL', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_FAILED'], emails: ['a@b.c'] },
        { notificationType: 'SLACK', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_FAILED'], slackDestinations: ['#channel', 'https://hooks.example/x'] },
        { notificationType: 'EMAIL', resourceType: 'TRIGGER_RUN', eventTypes: ['EVENT_TYPE_TRIGGER_RUN_STATE_FAILED'], emails: ['a@b.c'] },
      ]),
    ).toEqual([
      { on: ['SUCCEEDED', 'CANCELLED'], sink: { kind: 'webhook', url: 'http://x/hook' } },
      { on: ['FAILED'], sink: { kind: 'email', to: ['a@b.c'] } },
      { on: ['FAILED'], sink: { kind: 'slack', url: 'https://hooks.example/x' } },
      // Trigger events reach the runs a trigger starts (the engine raises them only for those).
      { on: ['TRIGGER_RUN_FAILED'], sink: { kind: 'email', to: ['a@b.c'] } },
    ]);
  });

  it('a pipeline run notifies its webhook', async () => {
    const got: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        got.push({ headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      writeFileSync(join(dir, 'flow.star'), '@workflow()\ndef main(x = 1):\n    return x + 1\n');
      writeFileSync(
        join(dir, 'pipeline.yaml'),
        [
          'apiVersion: larkflow.dev/v1',
          'kind: Pipeline',
          'metadata: {name: notify-me}',
          'spec:',
          '  manifest: {filePath: flow.star}',
          '  notifications:',
          `    - {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED], url: "http://127.0.0.1:${port}/hook"}`,
          '',
        ].join('\n'),
      );
      const db = join(dir, 'runs.db');
      expect((await pcli('pipeline', 'apply', '-f', join(dir, 'pipeline.yaml'), '--db', db)).code).toBe(0);
      const r = await pcli('pipeline', 'run', 'notify-me', 'x=41', '--db', db, '--quiet');
      expect(r.code, r.err).toBe(0);
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      expect(got).toHaveLength(1);
      expect(got[0]!.body).toMatchObject({ event: 'SUCCEEDED', status: 'completed', result: 42, pipeline: 'notify-me' });
      expect(got[0]!.headers['x-larkflow-idempotency-key']).toMatch(/^run-.*:SUCCEEDED:0$/);
    } finally {
      server.close();
    }
  });
});
