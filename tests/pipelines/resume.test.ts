/**
 * `larkflow pipeline run NAME --resume-from RUN[:STEP]`: resumes an earlier run of the pipeline with
 * the registered revision's committed code (the run's own script when it is the same revision's; a
 * later revision's files otherwise), reusing the steps before STEP (default: the first failed one);
 * clear errors for an unknown run, a run of another pipeline or of no pipeline, an unknown step, and
 * inputs given with it. The resumed run gets the pipeline's notifications in effect now.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type RunStarted } from '../../src/engine/index.js';
import { PipelineRegistry } from '../../src/pipelines/registry.js';
import { cli, scratchDirs } from '../helpers/cli.js';
import { pcli } from './helpers.js';

const fresh = scratchDirs('lf-pipe-resume-');
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const TASKS = `
export function fetch(n) { return n * 10; }
export function parse(x) { if (x > 5) throw new Error('cannot parse ' + x); return x; }
export function parse_v2(x) { return x + 1; }
`;

const WF = `
fetch = task("fetch")
parse = task("parse")

@workflow()
def main(n = 1):
    data = fetch(n)
    return parse(data)
`;

function spec(name: string, extra: string[] = []): string {
  return ['apiVersion: larkflow.dev/v1', 'kind: Pipeline', `metadata: {name: ${name}}`, 'spec:', '  manifest: {filePath: wf.star, tasks: t.mjs}', ...extra, ''].join('\n');
}

const runIdOf = (err: string): string => /run (run-[0-9a-f]+) started/.exec(err)![1]!;

async function receiver(): Promise<{ url: string; got: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] }> {
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
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

describe('pipeline run --resume-from', () => {
  it('reruns what failed with the revision\'s code: the same revision, then a fixed one', async () => {
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF);
    const yaml = t.file('pipeline.yaml', spec('etl'));
    expect((await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db)).code).toBe(0);
    const r1 = await pcli('pipeline', 'run', 'etl', 'n=1', '--db', t.db);
    expect(r1.code).toBe(1);
    expect(r1.err).toMatch(/cannot parse 10/);
    const first = runIdOf(r1.err);
    // The same revision: its code is the run's script; fetch is reused, parse fails again.
    const r2 = await pcli('pipeline', 'run', 'etl', '--resume-from', first, '--db', t.db);
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/fetch#1\s+completed\s+\(reused\)/);
    // The fix is committed as a new revision; the working tree changes again afterwards (not used).
    t.file('wf.star', WF.replace('parse = task("parse")', 'parse = task("parse_v2")'));
    expect((await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db)).out).toMatch(/revision \w+ \(created\)/);
    t.file('wf.star', WF.replace('return parse(data)', 'return "working tree"'));
    const r3 = await pcli('pipeline', 'run', 'etl', '--resume-from', first, '--db', t.db);
    expect(r3.code, r3.err).toBe(0);
    expect(JSON.parse(r3.out)).toBe(11);
    expect(r3.err).toMatch(/fetch#1\s+completed\s+\(reused\)/);
    const resumed = runIdOf(r3.err);
    const reg = PipelineRegistry.open(t.db);
    const rev2 = reg.get('etl');
    const rev1 = reg.get('etl', '#1');
    reg.close();
    const engine = Engine.open({ db: t.db });
    try {
      const started = engine.history(resumed)[0] as RunStarted;
      expect(started.resumedFrom).toEqual({ runId: first });
      expect(started.scriptDigest).toBe(rev2.bundleDigest);
      expect(started.env).toMatchObject({ LARKFLOW_PIPELINE: 'etl', LARKFLOW_PIPELINE_REVISION: rev2.revision });
      // --revision picks the code: revision #1 resumes with the original script.
      const r4 = await pcli('pipeline', 'run', 'etl', '--revision', '#1', '--resume-from', first, '--db', t.db);
      expect(r4.code).toBe(1);
      expect((engine.history(runIdOf(r4.err))[0] as RunStarted).env.LARKFLOW_PIPELINE_REVISION).toBe(rev1.revision);
    } finally {
      await engine.close();
    }
  });

  it('RUN:STEP runs that step again (and what follows it)', async () => {
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF.replace('parse = task("parse")', 'parse = task("parse_v2")'));
    const yaml = t.file('pipeline.yaml', spec('ok'));
    await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db);
    const r1 = await pcli('pipeline', 'run', 'ok', 'n=2', '--db', t.db);
    expect(JSON.parse(r1.out)).toBe(21);
    const first = runIdOf(r1.err);
    const r2 = await pcli('pipeline', 'run', 'ok', '--resume-from', `${first}:parse_v2`, '--db', t.db);
    expect(r2.code, r2.err).toBe(0);
    expect(JSON.parse(r2.out)).toBe(21);
    expect(r2.err).toMatch(/fetch#1\s+completed\s+\(reused\)/);
    expect(r2.err).not.toMatch(/parse_v2#1\s+completed\s+\(reused\)/);
    // `:fetch#1` is the same as `:fetch`: nothing is reused.
    const r3 = await pcli('pipeline', 'run', 'ok', '--resume-from', `${first}:fetch#1`, '--db', t.db);
    expect(r3.code, r3.err).toBe(0);
    expect(r3.err).not.toMatch(/\(reused\)/);
  });

  it('refuses an unknown run, a run of another pipeline or of none, an unknown step, and new inputs', async () => {
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF);
    await pcli('pipeline', 'apply', '-f', t.file('a.yaml', spec('alpha')), '--db', t.db);
    await pcli('pipeline', 'apply', '-f', t.file('b.yaml', spec('beta')), '--db', t.db);
    const ofAlpha = runIdOf((await pcli('pipeline', 'run', 'alpha', '--db', t.db)).err);
    const adHoc = await cli('run', join(t.dir, 'wf.star'), '--tasks', join(t.dir, 't.mjs'), '--db', t.db);
    const plain = runIdOf(adHoc.err);

    const unknown = await pcli('pipeline', 'run', 'alpha', '--resume-from', 'run-0000deadbeef', '--db', t.db);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no run run-0000deadbeef/);
    const other = await pcli('pipeline', 'run', 'beta', '--resume-from', ofAlpha, '--db', t.db);
    expect(other.code).toBe(2);
    expect(other.err).toContain(`run ${ofAlpha} is a run of pipeline alpha, not beta (larkflow pipeline run alpha --resume-from ${ofAlpha})`);
    const none = await pcli('pipeline', 'run', 'alpha', '--resume-from', plain, '--db', t.db);
    expect(none.code).toBe(2);
    expect(none.err).toContain(`run ${plain} is not a run of a pipeline`);
    const step = await pcli('pipeline', 'run', 'alpha', '--resume-from', `${ofAlpha}:trian`, '--db', t.db);
    expect(step.code).toBe(2);
    expect(step.err).toContain(`run ${ofAlpha} has no step trian (steps: fetch#1, parse#1)`);
    const empty = await pcli('pipeline', 'run', 'alpha', '--resume-from', `${ofAlpha}:`, '--db', t.db);
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/give a step after the colon/);
    const inputs = await pcli('pipeline', 'run', 'alpha', 'n=3', '--resume-from', ofAlpha, '--db', t.db);
    expect(inputs.code).toBe(2);
    expect(inputs.err).toMatch(/reuses the inputs of run/);
    for (const r of [unknown, other, none, step, empty, inputs]) expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('the resumed run notifies per the notifications in effect now', async () => {
    const r = await receiver();
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF);
    const yaml = t.file('pipeline.yaml', spec('noted'));
    await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db);
    const first = runIdOf((await pcli('pipeline', 'run', 'noted', '--db', t.db)).err);
    const notes = t.file('notes.yaml', `notifications:\n  - {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED], url: "${r.url}"}\n`);
    expect((await pcli('pipeline', 'notifications', 'noted', '--set', '-f', notes, '--db', t.db)).code).toBe(0);
    const again = await pcli('pipeline', 'run', 'noted', '--resume-from', first, '--db', t.db, '--quiet');
    expect(again.code).toBe(1);
    for (let i = 0; i < 200 && r.got.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.body).toMatchObject({ event: 'FAILED', pipeline: 'noted' });
    expect(r.got[0]!.body.runId).not.toBe(first);
  });
});

describe('pipeline notifications (editable after apply)', () => {
  it('prints, sets, clears and resets them without a new revision; get shows them; bad files are refused with positions', async () => {
    const t = fresh();
    t.file('t.mjs', TASKS);
    t.file('wf.star', WF);
    const yaml = t.file('pipeline.yaml', spec('n', ['  notifications:', '    - {notificationType: EMAIL, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED], emails: [ops@example.com]}']));
    await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db);
    const shown = await pcli('pipeline', 'notifications', 'n', '--db', t.db);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/^# notifications of pipeline n: the latest revision's spec\.notifications\n/);
    expect(shown.out).toContain('ops@example.com');

    const bad = t.file('bad.yaml', '- notificationType: SLACK\n  eventTypes: [EVENT_TYPE_TRIGGER_RUN_STATE_FAILD]\n  slackDestinations: ["https://hooks.example/x"]\n');
    const refused = await pcli('pipeline', 'notifications', 'n', '--set', '-f', bad, '--db', t.db);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`${bad}:2:16: spec.notifications[0].eventTypes[0] is "EVENT_TYPE_TRIGGER_RUN_STATE_FAILD" (did you mean EVENT_TYPE_TRIGGER_RUN_STATE_FAILED?)`);
    expect(refused.err).toMatch(/\n {4}eventTypes: \[EVENT_TYPE_TRIGGER_RUN_STATE_FAILD\]\n {17}\^\n/);
    expect((await pcli('pipeline', 'notifications', 'n', '--json', '--db', t.db)).out).toContain('"source": "spec"');

    const good = t.file('good.yaml', '- {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED], url: "http://127.0.0.1:9/x"}\n');
    const set = await pcli('pipeline', 'notifications', 'n', '--set', '-f', good, '--db', t.db);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe(`pipeline n: notifications set from ${good} (1 entry); runs started from now on use them\n`);
    const json = JSON.parse((await pcli('pipeline', 'notifications', 'n', '--json', '--db', t.db)).out) as { source: string; list: unknown[]; file: string };
    expect(json).toMatchObject({ source: 'set', file: good, list: [{ notificationType: 'WEBHOOK', url: 'http://127.0.0.1:9/x' }] });
    // No new revision; `get` shows the spec as applied and the notifications in effect after it.
    expect(JSON.parse((await pcli('pipeline', 'revisions', 'n', '--json', '--db', t.db)).out)).toHaveLength(1);
    const get = await pcli('pipeline', 'get', 'n', '--db', t.db);
    expect(get.out).toContain('ops@example.com');
    expect(get.out).toMatch(/# notifications in effect, set after apply at .* from .*good\.yaml \(they replace spec\.notifications above\)\nnotifications:\n {2}- notificationType: WEBHOOK\n/);
    const getJson = JSON.parse((await pcli('pipeline', 'get', 'n', '--json', '--db', t.db)).out) as { notifications: { source: string; list: { url?: string }[] } };
    expect(getJson.notifications.source).toBe('set');
    expect(getJson.notifications.list[0]!.url).toBe('http://127.0.0.1:9/x');
    // Applying again keeps them, and says so.
    const applied = await pcli('pipeline', 'apply', '-f', yaml, '--db', t.db);
    expect(applied.err).toMatch(/note: the notifications of pipeline n were set with `larkflow pipeline notifications`/);

    expect((await pcli('pipeline', 'notifications', 'n', '--clear', '--db', t.db)).out).toMatch(/notifications cleared/);
    expect(JSON.parse((await pcli('pipeline', 'notifications', 'n', '--json', '--db', t.db)).out)).toMatchObject({ source: 'set', list: [] });
    expect((await pcli('pipeline', 'notifications', 'n', '--reset', '--db', t.db)).code).toBe(0);
    expect(JSON.parse((await pcli('pipeline', 'notifications', 'n', '--json', '--db', t.db)).out)).toMatchObject({ source: 'spec', list: [{ emails: ['ops@example.com'] }] });
    expect((await pcli('pipeline', 'get', 'n', '--db', t.db)).out).not.toContain('notifications in effect');

    const both = await pcli('pipeline', 'notifications', 'n', '--clear', '--reset', '--db', t.db);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/give one of --set -f FILE, --clear and --reset/);
    const noFile = await pcli('pipeline', 'notifications', 'n', '--set', '--db', t.db);
    expect(noFile.code).toBe(2);
    const missing = await pcli('pipeline', 'notifications', 'n', '--set', '-f', join(t.dir, 'nope.yaml'), '--db', t.db);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read notifications file .*nope\.yaml: no such file/);
    const unknown = await pcli('pipeline', 'notifications', 'zz', '--clear', '--db', t.db);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no pipeline named zz \(pipelines: n\)/);
    for (const r of [refused, both, noFile, missing, unknown]) expect(r.err).not.toMatch(/\n\s+at /);
  });
});

