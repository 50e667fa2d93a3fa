/**
 * The run inspector in a real browser (Debian's Chromium through playwright-core): every page over a
 * temp SQLite database filled by an in-process engine, a run followed live, cancel / resume / retry /
 * re-run from the page, a dropped SSE connection caught up without duplicates, a `<script>` in a
 * task result shown as text and never run, a read-only server. Screenshots of each page, light and
 * dark, go to docs/screenshots/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine } from '../../src/engine/index.js';
import { PipelineRegistry } from '../../src/pipelines/registry.js';
import { POLL, launchBrowser, newPage, screenshots, startUi, type UiServer } from './browser-helpers.js';

const SCRIPT = `
prep = task("prep")
double = task("double", cache = True)
combine = task("combine")
echo = task("echo")
flaky = task("flaky", retry = RetryPolicy(max_attempts = 2, initial_interval = "1s", backoff = 1, jitter = 0))
slow = task("slow")
blob = task("blob")

@workflow()
def demo(n):
    xs = prep(n)
    futures = [run(double, xs, i) for i in range(n)]
    ys = [f.result() for f in futures]
    return {"total": combine(ys), "n": n}

@workflow()
def broken(x):
    y = prep(x)
    return flaky(len(y))

@workflow()
def xss(s):
    return echo(s)

@workflow()
def crash(n):
    xs = prep(n)
    return xs[10]

@workflow()
def payload(n):
    time.sleep(0.3)
    rows = blob(n)
    return len(rows)

@workflow()
def live(n):
    xs = prep(n)
    outs = [run(slow, x) for x in xs]
    return combine([f.result() for f in outs])
`;

/** Scrolls the run page so that its tabs are at the top (the tab's content fills the screenshot). */
async function toTabs(page: { evaluate: (s: string) => Promise<unknown> }): Promise<void> {
  await page.evaluate("window.scrollTo(0, document.querySelector('nav.tabs').getBoundingClientRect().top + window.scrollY - 64)");
}

const XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

/** A promise the test resolves by hand: the `slow` task waits on the current one. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe.sequential('larkflow ui in Chromium', () => {
  let dir: string;
  let engine: Engine;
  let ui: UiServer;
  let browser: Browser;
  let page: Awaited<ReturnType<typeof newPage>>;
  let slowGate = gate();
  /** Per-argument gates for `slow` (else it waits on slowGate). */
  const itemGates = new Map<number, ReturnType<typeof gate>>();
  let flakyFails = true;
  const ids: Record<string, string> = {};
  const start = (workflow: string, args: unknown[]) => engine.start({ source: { name: 'inspect.star', text: SCRIPT }, workflow, args });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'larkflow-ui-browser-'));
    engine = Engine.open({ db: join(dir, 'larkflow.db') });
    engine.registerTask('prep', (n: number) => Array.from({ length: n }, (_, i) => i + 1));
    engine.registerTask('double', (xs: number[], i: number) => ({ i, v: xs[i]! * 2 }));
    engine.registerTask('combine', (ys: ({ v: number } | number)[]) => ys.reduce<number>((a, y) => a + (typeof y === 'number' ? y : y.v), 0));
    engine.registerTask('echo', (s: string) => ({ text: s, length: s.length }));
    engine.registerTask('flaky', (n: number) => {
      if (flakyFails) throw new Error(`flaky failed on ${n} items`);
      return n;
    });
    engine.registerTask('blob', (n: number) => Array.from({ length: n }, (_, i) => `row ${i} of a large result`));
    engine.registerTask('slow', async (x: number) => {
      await (itemGates.get(x) ?? slowGate).promise;
      return x * 10;
    });
    const demo = start('demo', [6]);
    ids['demo'] = demo.runId;
    await demo.result;
    const cached = start('demo', [6]);
    ids['cached'] = cached.runId;
    await cached.result;
    const broken = start('broken', [3]);
    ids['broken'] = broken.runId;
    expect((await broken.result).status).toBe('failed');
    const xss = start('xss', [XSS]);
    ids['xss'] = xss.runId;
    await xss.result;
    const crash = start('crash', [2]);
    ids['crash'] = crash.runId;
    expect((await crash.result).status).toBe('failed');
    const payload = start('payload', [1000]);
    ids['payload'] = payload.runId;
    await payload.result;
    // A registered pipeline with a cron trigger, for the Pipelines and Triggers pages.
    writeFileSync(join(dir, 'flow.star'), '@workflow()\ndef main():\n    return 1\n');
    writeFileSync(
      join(dir, 'pipeline.yaml'),
      ['apiVersion: larkflow.dev/v1', 'kind: Pipeline', 'metadata: {name: nightly, namespace: ml}', 'spec:', '  manifest:', '    filePath: flow.star', '    triggerMap:', '      daily: {cronSchedule: {cron: "0 6 * * *"}, maxConcurrency: 1}', ''].join('\n'),
    );
    const reg = PipelineRegistry.open(join(dir, 'larkflow.db'));
    await reg.apply(join(dir, 'pipeline.yaml'));
    reg.close();
    ui = await startUi({ engine, allowActions: true });
    browser = await launchBrowser();
    page = await newPage(browser);
  }, 120_000);

  afterAll(async () => {
    slowGate.open();
    await browser?.close();
    await ui?.close();
    await engine?.drain(2000).catch(() => undefined);
    await engine?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('lists runs with status, progress, cache hits and the first error; filters live in the URL', async () => {
    await page.goto(ui.url);
    const table = page.getByTestId('runs-table');
    await table.locator(`tr[data-run="${ids['broken']}"]`).waitFor();
    expect(await table.locator('tbody tr').count()).toBe(6);
    // Sortable: by duration, longest first.
    await page.locator('th button', { hasText: 'Duration' }).click();
    await page.waitForURL(/sort=duration/);
    expect(await table.locator('tbody tr').first().getAttribute('data-run')).toBe(ids['broken']);
    await page.goto(ui.url);
    await table.locator(`tr[data-run="${ids['broken']}"]`).waitFor();
    const broken = table.locator(`tr[data-run="${ids['broken']}"]`);
    expect(await broken.getAttribute('data-state')).toBe('failed');
    await expect.poll(() => broken.textContent(), POLL).toContain('flaky failed on 3 items');
    const cached = table.locator(`tr[data-run="${ids['cached']}"]`);
    expect(await cached.locator('td').nth(6).textContent()).toBe('6');
    expect(await cached.locator('.progress-text').textContent()).toBe('8/8');
    await screenshots(page, 'runs');
    // The theme toggle: auto → light → dark, kept across reloads.
    const toggle = page.locator('button.theme-toggle');
    await toggle.click();
    await toggle.click();
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
    await page.reload();
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
    await toggle.click();
    expect(await page.locator('html').getAttribute('data-theme')).toBeNull();
    // Filters are in the URL: a reload keeps them.
    await page.locator('label.chip', { hasText: 'failed' }).click();
    await page.waitForURL(/status=failed/);
    await expect.poll(() => table.locator('tbody tr').count(), POLL).toBe(2);
    await page.reload();
    await table.locator(`tr[data-run="${ids['broken']}"]`).waitFor();
    expect(await table.locator('tbody tr').count()).toBe(2);
    await page.goto(`${ui.url}?q=xss`);
    await expect.poll(() => table.locator('tbody tr').count(), POLL).toBe(1);
    expect(await table.locator('tbody tr').getAttribute('data-run')).toBe(ids['xss']);
    expect(page.problems).toEqual([]);
  });

  it('shows a run: header, steps with the fan-out group, timeline, graph, history and source', async () => {
    const response = await page.goto(`${ui.url}runs/${ids['cached']}`);
    const csp = response!.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    await page.locator('#run-state[data-state="completed"]').waitFor();
    await expect.poll(() => page.getByTestId('run-result').textContent(), POLL).toContain('total: 42');
    // Steps: prep, a collapsed ×6 fan-out of cache hits, combine.
    const group = page.locator('.group-card');
    await group.waitFor();
    expect(await group.textContent()).toContain('×6');
    expect(await group.locator('[data-count-state]').first().textContent()).toMatch(/6/);
    await group.locator('button[aria-expanded]').first().click();
    await expect.poll(() => group.locator('.step-card').count(), POLL).toBe(6);
    const hit = group.locator('[data-cache="hit"]').first();
    await hit.waitFor();
    expect(await hit.locator('a').getAttribute('href')).toContain(`runs/${ids['demo']}`);
    await screenshots(page, 'run-steps');

    await page.locator('nav.tabs a', { hasText: 'Timeline' }).click();
    const tl = page.getByTestId('timeline');
    await tl.waitFor();
    expect(Number(await tl.getAttribute('data-rows'))).toBe(8);
    expect(await tl.locator('[data-marker="cache"]').count()).toBe(6);
    // A row opens its step.
    await tl.locator('.tl-row[data-step="combine#1"]').click();
    await page.waitForURL(/\/steps\?step=combine%231$/);
    await page.locator('.step-card.focused[data-step="combine#1"]').waitFor();
    await page.locator('nav.tabs a', { hasText: 'Timeline' }).click();
    await tl.waitFor();
    await toTabs(page);
    await screenshots(page, 'run-timeline');

    await page.locator('nav.tabs a', { hasText: 'Graph' }).click();
    const graph = page.getByTestId('graph');
    await graph.waitFor();
    expect(await graph.locator('.g-node').count()).toBeGreaterThanOrEqual(3);
    expect(await graph.locator('.g-edge').count()).toBeGreaterThanOrEqual(2);
    await toTabs(page);
    await screenshots(page, 'run-graph');
    // Click a node → its step.
    await graph.locator('.g-node').first().click();
    await page.waitForURL(/\/steps\?step=/);
    await page.locator('.step-card.focused').waitFor();

    await page.locator('nav.tabs a', { hasText: 'History' }).click();
    const history = page.getByTestId('history-table');
    await history.locator('tr[data-seq="1"]').waitFor();
    expect(await history.locator('tr[data-seq="1"]').getAttribute('data-kind')).toBe('RunStarted');
    await history.locator('tr[data-seq="1"]').click();
    await expect.poll(() => page.getByTestId('event-json').textContent(), POLL).toContain('"kind": "RunStarted"');
    const download = await page.locator('a[download]', { hasText: 'Download JSON' }).evaluate((a) => (a as unknown as { href: string }).href);
    const whole = (await (await page.request.get(download)).json()) as { seq: number }[];
    expect(whole.map((e) => e.seq)).toEqual(Array.from({ length: engine.store.getRun(ids['cached']!)!.lastSeq }, (_, i) => i + 1));
    await toTabs(page);
    await screenshots(page, 'run-history');

    await page.locator('nav.tabs a', { hasText: 'Source' }).click();
    const source = page.getByTestId('source');
    await source.waitFor();
    expect(await source.locator('[data-line="3"] .src-code').textContent()).toContain('double = task("double", cache = True)');
    expect(await source.locator('[data-marks~="task"]').count()).toBeGreaterThanOrEqual(3);
    await toTabs(page);
    await screenshots(page, 'run-source');
    // Every tab (the lazily loaded dagre chunk included) ran under the strict CSP without a violation.
    expect(await page.evaluate('window.__cspViolations')).toEqual([]);
    expect(page.problems).toEqual([]);
    // ...and the recorder does see one: an inline style attribute is refused.
    await page.evaluate(`document.body.insertAdjacentHTML('beforeend', '<div style="color: red">x</div>')`);
    await expect.poll(() => page.evaluate('window.__cspViolations.length'), POLL).toBe(1);
    page.problems.length = 0;
  });

  it('puts the root failure up front, with traceback, and filters the history to failures', async () => {
    await page.goto(`${ui.url}runs/${ids['broken']}`);
    const failure = page.getByTestId('root-failure');
    await failure.waitFor();
    expect(await failure.textContent()).toContain('flaky failed on 3 items');
    expect(await failure.textContent()).toContain('flaky');
    const card = page.locator('.step-card[data-state="failed"]');
    expect(await card.getByTestId('attempts').textContent()).toBe('2/2');
    await screenshots(page, 'run-failed');
    await page.goto(`${ui.url}runs/${ids['broken']}/history?failures=1`);
    const rows = page.getByTestId('history-table').locator('tbody tr[data-seq]');
    await rows.first().waitFor();
    const kinds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind')));
    expect(kinds.length).toBeGreaterThanOrEqual(2);
    expect(kinds.every((k) => /Failed/.test(k ?? ''))).toBe(true);
    expect(page.problems).toEqual([]);
  });

  it('marks the line of a script error in the Source tab', async () => {
    await page.goto(`${ui.url}runs/${ids['crash']}`);
    const failure = page.getByTestId('root-failure');
    await failure.waitFor();
    expect(await failure.textContent()).toMatch(/index|range/i);
    await failure.locator('a', { hasText: 'inspect.star:' }).click();
    const errorLine = page.getByTestId('source').locator('[data-marks~="error"]');
    await errorLine.waitFor();
    expect(await errorLine.locator('.src-code').textContent()).toContain('return xs[10]');
    await toTabs(page);
    await screenshots(page, 'run-source-error');
    expect(page.problems).toEqual([]);
  });

  it('shows a <script> in a task result as text and never runs it', async () => {
    await page.goto(`${ui.url}runs/${ids['xss']}`);
    await page.locator('#run-state[data-state="completed"]').waitFor();
    await page.getByTestId('run-result').getByText('<script>window.__pwned = 1</script>', { exact: false }).first().waitFor();
    await page.locator('.step-card button[aria-expanded="false"]').first().click();
    await page.locator('.step-details').getByText('onerror', { exact: false }).first().waitFor();
    await page.locator('nav.tabs a', { hasText: 'History' }).click();
    await page.getByTestId('history-table').getByText('__pwned', { exact: false }).first().waitFor();
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');
    expect(await page.locator('script:not([src])').count()).toBe(0);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
  });

  it('follows a running run live: steps appear and complete without a reload', async () => {
    slowGate = gate();
    const h = start('live', [4]);
    await page.goto(`${ui.url}runs/${h.runId}`);
    await page.evaluate('window.__sameDocument = true');
    await page.locator('#run-state[data-state="running"]').waitFor();
    await page.locator('.live-dot[data-stream="live"]').first().waitFor();
    // The fan-out of four slow calls shows up running.
    await page.locator('.group-card', { hasText: '×4' }).waitFor();
    await screenshots(page, 'run-live');
    expect(await page.getByTestId('waiting-at').textContent()).toMatch(/Suspended at inspect\.star:\d+/);
    await page.locator('nav.tabs a', { hasText: 'Source' }).click();
    await page.getByTestId('source').locator('[data-marks~="waiting"]').waitFor();
    await page.locator('nav.tabs a', { hasText: 'Timeline' }).click();
    await page.getByTestId('timeline').locator('[data-outcome="running"]').first().waitFor();
    await toTabs(page);
    await screenshots(page, 'run-live-timeline');
    slowGate.open();
    expect((await h.result).status).toBe('completed');
    await page.locator('#run-state[data-state="completed"]').waitFor();
    await expect.poll(() => page.getByTestId('timeline').locator('[data-outcome="running"]').count(), POLL).toBe(0);
    await page.locator('nav.tabs a', { hasText: 'Steps' }).click();
    await page.locator('.group-card [data-count-state="completed"]', { hasText: '4' }).waitFor();
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(page.problems).toEqual([]);
  });

  it('catches up after a dropped stream, with every event applied once', async () => {
    slowGate = gate();
    const first = gate();
    itemGates.set(1, first);
    const h = start('live', [5]);
    await page.goto(`${ui.url}runs/${h.runId}/history`);
    await page.locator('.live-dot[data-stream="live"]').first().waitFor();
    const run = page.locator('section.run-page');
    const startSeq = Number(await run.getAttribute('data-last-seq')) - Number(await run.getAttribute('data-applied'));
    // One call completes while connected, so the stream has a last event id...
    first.open();
    await expect.poll(async () => Number(await run.getAttribute('data-applied')), POLL).toBeGreaterThan(0);
    itemGates.delete(1);
    // ...then the connection drops.
    expect(ui.dropStreams()).toBeGreaterThanOrEqual(1);
    // Events happen while the page is disconnected (or reconnecting).
    slowGate.open();
    expect((await h.result).status).toBe('completed');
    const last = engine.store.getRun(h.runId)!.lastSeq;
    await page.locator('#run-state[data-state="completed"]').waitFor();
    await expect.poll(() => run.getAttribute('data-last-seq'), POLL).toBe(String(last));
    // Each event after the first load was applied exactly once, and the reconnect asked for a replay.
    expect(Number(await run.getAttribute('data-applied'))).toBe(last - startSeq);
    const reconnect = ui.streamRequests.filter((r) => r.path.includes(h.runId) && r.lastEventId !== '');
    expect(reconnect.length).toBeGreaterThanOrEqual(1);
    // The history table (last page, live) lists each seq once.
    const seqs = await page.getByTestId('history-table').locator('tbody tr[data-seq]').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  });

  it('cancels a run with a reason, then resumes it from a chosen step, from the page', async () => {
    slowGate = gate();
    const h = start('live', [3]);
    await page.goto(`${ui.url}runs/${h.runId}`);
    await page.locator('#run-state[data-state="running"]').waitFor();
    await page.locator('.group-card', { hasText: '×3' }).waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    const dialog = page.locator('dialog.modal[open]');
    await dialog.locator('textarea[name="reason"]').fill('stopped by the browser test');
    expect(await dialog.locator('.cli code').textContent()).toContain('larkflow cancel');
    await dialog.getByRole('button', { name: 'Cancel run' }).click();
    await page.locator('#run-state[data-state="cancelled"]').waitFor();
    expect((await h.result).status).toBe('cancelled');
    // Resume from the fan-out: prep is reused, the slow calls run again.
    slowGate.open();
    await page.getByRole('button', { name: 'Resume from step…' }).click();
    const resume = page.locator('dialog.modal[open]');
    const slowStep = (await resume.locator('select[name="step"] option').allTextContents()).find((t) => t.includes('slow'))!;
    await resume.locator('select[name="step"]').selectOption({ label: slowStep });
    await resume.getByTestId('resume-plan').waitFor();
    await expect.poll(() => resume.getByTestId('plan-reused').textContent(), POLL).toMatch(/^[1-9]\d* reused/);
    expect(await resume.getByTestId('resume-plan').textContent()).toContain('prep#');
    await screenshots(page, 'resume-plan');
    await resume.getByRole('button', { name: 'Resume' }).click();
    await page.waitForURL((u) => !u.pathname.includes(h.runId));
    await page.locator('#run-state[data-state="completed"]').waitFor();
    const resumed = page.locator('section.run-page');
    expect(await page.locator('.facts').textContent()).toContain(h.runId);
    expect(await resumed.getAttribute('data-run')).not.toBe(h.runId);
    expect(page.problems).toEqual([]);
  });

  it('retries the failed step and re-runs with edited inputs, from the page', async () => {
    flakyFails = false;
    await page.goto(`${ui.url}runs/${ids['broken']}`);
    await page.getByRole('button', { name: 'Retry failed step' }).click();
    const retry = page.locator('dialog.modal[open]');
    await retry.getByTestId('resume-plan').waitFor();
    await retry.getByRole('button', { name: 'Retry' }).click();
    await page.waitForURL((u) => !u.pathname.includes(ids['broken']!));
    await page.locator('#run-state[data-state="completed"]').waitFor();
    // Re-run the demo with edited inputs: invalid JSON is refused first.
    await page.goto(`${ui.url}runs/${ids['demo']}`);
    await page.getByRole('button', { name: 'Re-run…' }).click();
    const rerun = page.locator('dialog.modal[open]');
    const editor = rerun.locator('textarea[name="inputs"]');
    await editor.fill('{"args": [2], ');
    await rerun.getByTestId('inputs-error').waitFor();
    expect(await rerun.getByRole('button', { name: 'Re-run' }).isDisabled()).toBe(true);
    await editor.fill('{"args": [2]}');
    await rerun.getByRole('button', { name: 'Re-run' }).click();
    await page.waitForURL((u) => !u.pathname.includes(ids['demo']!));
    await page.locator('#run-state[data-state="completed"]').waitFor();
    await expect.poll(() => page.getByTestId('run-result').textContent(), POLL).toContain('n: 2');
    // The runs list filters by what started a run: the resumed and the retried runs.
    await page.goto(ui.url);
    await page.getByLabel('Started by').selectOption('resume');
    await page.waitForURL(/trigger=resume/);
    const rows = page.getByTestId('runs-table').locator('tbody tr[data-run]');
    await expect.poll(() => rows.count(), POLL).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.every((tr) => (tr.textContent ?? '').includes('resume')))).toBe(true);
    expect(page.problems).toEqual([]);
  });

  it('shows the pipelines, triggers and cache pages', async () => {
    for (const [path, name] of [
      ['pipelines', 'pipelines'],
      ['triggers', 'triggers'],
      ['cache', 'cache'],
    ] as const) {
      await page.goto(`${ui.url}${path}`);
      await page.locator(`[data-testid="${name}-table"], .empty`).first().waitFor();
      await screenshots(page, name);
    }
    await page.goto(`${ui.url}pipelines`);
    const pipelines = page.getByTestId('pipelines-table');
    await pipelines.locator('tbody tr', { hasText: 'nightly' }).waitFor();
    expect(await pipelines.locator('tbody tr').first().textContent()).toContain('ml');
    await page.goto(`${ui.url}triggers`);
    const triggers = page.getByTestId('triggers-table');
    await triggers.locator('tbody tr', { hasText: 'daily' }).waitFor();
    expect(await triggers.locator('tbody tr').first().textContent()).toContain('0 6 * * *');
    await page.goto(`${ui.url}cache`);
    const cache = page.getByTestId('cache-table');
    await cache.waitFor();
    expect(await cache.locator('tbody tr', { hasText: 'double' }).count()).toBeGreaterThanOrEqual(6);
    expect(page.problems).toEqual([]);
  });

  it('shows a large task result as a reference (size, preview) that opens whole', async () => {
    await page.goto(`${ui.url}runs/${ids['payload']}`);
    const card = page.locator('.step-card[data-step="blob#1"]');
    await card.locator('button[aria-expanded="false"]').first().click();
    const ref = card.locator('.step-details .payload-ref');
    await ref.waitFor();
    expect(await ref.textContent()).toMatch(/\d+(\.\d)? kB/);
    expect(await ref.textContent()).toContain('row 0 of a large result');
    // The link is relative to <base href>: the browser resolves it.
    const href = await ref.locator('a').evaluate((a) => (a as unknown as { href: string }).href);
    expect(href).toContain(`${ui.url}api/runs/`);
    const whole = (await (await page.request.get(href)).json()) as string[];
    expect(whole).toHaveLength(1000);
    // The durable sleep before it is a timer on the timeline.
    await page.locator('nav.tabs a', { hasText: 'Timeline' }).click();
    await page.getByTestId('timeline').locator('.seg-timer').waitFor();
    expect(page.problems).toEqual([]);
  });

  it('updates the runs list live: a new run appears, then completes, without a reload', async () => {
    slowGate = gate();
    await page.goto(ui.url);
    await page.locator('.live-dot[data-stream="live"]').waitFor();
    await page.evaluate('window.__sameDocument = true');
    const h = start('live', [2]);
    const row = page.getByTestId('runs-table').locator(`tr[data-run="${h.runId}"]`);
    await row.waitFor();
    await expect.poll(() => row.getAttribute('data-state'), POLL).toBe('running');
    slowGate.open();
    await h.result;
    await expect.poll(() => row.getAttribute('data-state'), POLL).toBe('completed');
    await expect.poll(() => row.locator('.progress-text').textContent(), POLL).toBe('4/4');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(page.problems).toEqual([]);
  });

  it('takes the token of a server that accepts actions with one (from #token= or typed in)', async () => {
    const token = 'browser-test-token-0123456789';
    const withToken = await startUi({ engine, token });
    try {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      const tab = await ctx.newPage();
      await tab.goto(`${withToken.url}runs/${ids['demo']}`);
      await tab.getByTestId('token-form').waitFor();
      expect(await tab.getByRole('button', { name: 'Re-run…' }).isDisabled()).toBe(true);
      await tab.getByLabel('Token').fill(token);
      await tab.getByRole('button', { name: 'Use' }).click();
      await expect.poll(() => tab.getByRole('button', { name: 'Re-run…' }).isDisabled(), POLL).toBe(false);
      // A fresh tab given the token in the URL's fragment: actions are on, and the fragment is gone.
      const tab2 = await ctx.newPage();
      await tab2.goto(`${withToken.url}runs/${ids['demo']}#token=${token}`);
      await tab2.locator('#run-state').waitFor();
      expect(new URL(tab2.url()).hash).toBe('');
      await tab2.getByRole('button', { name: 'Re-run…' }).click();
      await tab2.locator('dialog.modal[open]').getByRole('button', { name: 'Re-run' }).click();
      await tab2.waitForURL((u) => !u.pathname.includes(ids['demo']!));
      await tab2.locator('#run-state[data-state="completed"]').waitFor();
      await ctx.close();
    } finally {
      await withToken.close();
    }
  });

  it('works mounted under a path prefix (the <base href> the server injects)', async () => {
    const mounted = await startUi({ engine, basePath: '/tools/larkflow' });
    try {
      await page.goto(`${mounted.url}tools/larkflow/`);
      const row = page.getByTestId('runs-table').locator(`tr[data-run="${ids['demo']}"]`);
      await row.waitFor();
      await row.locator('a').first().click();
      await page.waitForURL(`${mounted.url}tools/larkflow/runs/${ids['demo']}`);
      await page.locator('#run-state[data-state="completed"]').waitFor();
      await page.locator('nav.tabs a', { hasText: 'History' }).click();
      await page.waitForURL(/\/tools\/larkflow\/runs\/[^/]+\/history$/);
      await page.locator('tr[data-seq="1"]').waitFor();
      await page.locator('.live-dot[data-stream="live"]').first().waitFor();
      expect(mounted.streamRequests.every((r) => r.path.startsWith('/tools/larkflow/api/'))).toBe(true);
      expect(page.problems).toEqual([]);
    } finally {
      await mounted.close();
    }
  });

  it('disables actions on a read-only server and says why', async () => {
    const ro = await startUi({ engine });
    try {
      await page.goto(`${ro.url}runs/${ids['broken']}`);
      await page.getByTestId('readonly-note').waitFor();
      expect(await page.locator('[data-readonly="true"]').count()).toBeGreaterThanOrEqual(1);
      for (const name of ['Cancel run', 'Retry failed step', 'Resume from step…', 'Re-run…']) {
        expect(await page.getByRole('button', { name }).isDisabled()).toBe(true);
      }
      expect(await page.getByRole('button', { name: 'Re-run…' }).getAttribute('title')).toContain('--allow-actions');
    } finally {
      await ro.close();
    }
  });
});
