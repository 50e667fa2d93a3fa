/**
 * The run inspector on a big run, in Chromium: a 100,000-event history with 2,000 task calls (one
 * fan-out), written straight through `engine.store.append` in batches on a temp SQLite database.
 * The History tab pages through it with the server's keyset pages and never renders more than one
 * page of rows; the Steps tab collapses the fan-out and pages its members; the Timeline pages its
 * rows. Load times are measured and printed (no timing is asserted).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/stdlib/index.js';
import { Engine, type HistoryEvent, type NewEvent } from '../../src/engine/index.js';
import { POLL, launchBrowser, newPage, screenshots, startUi, type UiServer } from './browser-helpers.js';

const TOTAL = 100_000;
const STEPS = 2_000;
const HEARTBEATS = 45;
const PAGE_ROWS = 100;

const SCRIPT = `
work = task("work")

@workflow()
def big(n):
    outs = [run(work, i) for i in range(n)]
    return len([f.result() for f in outs])
`;

/** Writes a 100,000-event run: RunStarted (copied from a real run, so the script is stored), the fan-out, attempts with heartbeats, progress reports, RunCompleted. */
function writeBigRun(engine: Engine, template: HistoryEvent & { kind: 'RunStarted' }): { runId: string; ms: number } {
  const t0 = performance.now();
  const runId = 'run-big-history';
  const { seq: _seq, ...first } = template;
  let at = Date.now() - 3_600_000;
  engine.store.createRun({ ...first, runId, at, args: [STEPS] });
  let last = 1;
  let batch: NewEvent[] = [];
  const flush = (): void => {
    if (!batch.length) return;
    last = engine.store.append(runId, last, batch).at(-1)!.seq;
    batch = [];
  };
  const push = (e: NewEvent): void => {
    batch.push(e);
    if (batch.length >= 5_000) flush();
  };
  const site = { file: 'big.star', line: 6, column: 12, stack: ['big'] };
  const retry = { maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maxIntervalMs: 60_000, jitter: 0, nonRetryable: [] };
  for (let i = 0; i < STEPS; i++) {
    push({ kind: 'TaskScheduled', at, stepId: `work#${i + 1}`, task: 'work', args: [i], kwargs: {}, argsDigest: `sha256:${String(i).padStart(64, '0')}`, callSite: site, inputsFrom: [], executor: 'local', retry } as NewEvent);
  }
  for (let i = 0; i < STEPS; i++) {
    const stepId = `work#${i + 1}`;
    at += 100;
    push({ kind: 'AttemptStarted', at, stepId, attempt: 1, executor: 'local', handle: `${runId}/${stepId}/1`, idempotencyKey: `${runId}/${stepId}/1` } as NewEvent);
    for (let h = 0; h < HEARTBEATS; h++) push({ kind: 'AttemptHeartbeat', at: at + h, stepId, attempt: 1, details: { i, beat: h } } as NewEvent);
    at += 50;
    push({ kind: 'TaskCompleted', at, stepId, attempt: 1, result: i * 2, source: 'executed', durationMs: 150 } as NewEvent);
  }
  let n = 1 + STEPS + STEPS * (HEARTBEATS + 2);
  while (n < TOTAL - 1) {
    push({ kind: 'ProgressReported', at, message: `progress ${n}` } as NewEvent);
    n++;
  }
  push({ kind: 'RunCompleted', at: at + 10, result: STEPS } as NewEvent);
  flush();
  return { runId, ms: performance.now() - t0 };
}

describe.sequential('larkflow ui on a 100,000-event history', () => {
  let dir: string;
  let engine: Engine;
  let ui: UiServer;
  let browser: Browser;
  let page: Awaited<ReturnType<typeof newPage>>;
  let runId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'larkflow-ui-big-'));
    engine = Engine.open({ db: join(dir, 'larkflow.db') });
    engine.registerTask('work', (i: number) => i * 2);
    const small = engine.start({ source: { name: 'big.star', text: SCRIPT }, args: [2] });
    await small.result;
    const template = engine.store.history(small.runId)[0] as HistoryEvent & { kind: 'RunStarted' };
    const written = writeBigRun(engine, template);
    runId = written.runId;
    console.log(`[ui-big] wrote ${TOTAL} events through engine.store.append in ${Math.round(written.ms)} ms`);
    // 120 more small runs, for the runs list's keyset pages.
    const { seq: _s, ...first } = template;
    for (let i = 0; i < 120; i++) {
      const id = `run-page-${String(i).padStart(3, '0')}`;
      engine.store.createRun({ ...first, runId: id, at: Date.now() - 7_200_000 + i * 1000 });
      engine.store.append(id, 1, [{ kind: 'RunCompleted', at: Date.now() - 7_200_000 + i * 1000 + 500, result: i } as NewEvent]);
    }
    ui = await startUi({ engine });
    browser = await launchBrowser();
    page = await newPage(browser);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ui?.close();
    await engine?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('pages through the history one server page at a time', async () => {
    expect(engine.store.getRun(runId)!.lastSeq).toBe(TOTAL);
    const rows = page.getByTestId('history-table').locator('tbody tr[data-seq]');
    const t0 = Date.now();
    await page.goto(`${ui.url}runs/${runId}/history`);
    await page.locator('tr[data-seq="1"]').waitFor();
    const firstPage = Date.now() - t0;
    const api = (await page.evaluate(
      "performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).map((e) => [new URL(e.name).pathname.split('/').slice(-1)[0] + (new URL(e.name).search ? '?…' : ''), Math.round(e.duration), Math.round(e.transferSize / 1024)])",
    )) as [string, number, number][];
    expect(await rows.count()).toBe(PAGE_ROWS);
    expect(await page.getByTestId('history-range').textContent()).toContain(`of ${TOTAL}`);
    await screenshots(page, 'history-100k');

    let t = Date.now();
    await page.getByTestId('history-next').click();
    await page.locator(`tr[data-seq="${PAGE_ROWS + 1}"]`).waitFor();
    const nextPage = Date.now() - t;
    expect(await rows.count()).toBe(PAGE_ROWS);

    t = Date.now();
    await page.getByRole('button', { name: 'Last ⇥' }).click();
    await page.locator(`tr[data-seq="${TOTAL}"]`).waitFor();
    const lastPage = Date.now() - t;
    expect(await rows.count()).toBe(PAGE_ROWS);
    expect(await page.locator(`tr[data-seq="${TOTAL}"]`).getAttribute('data-kind')).toBe('RunCompleted');

    t = Date.now();
    await page.getByLabel('Go to seq').fill('50000');
    await page.getByRole('button', { name: 'Go', exact: true }).click();
    await page.locator('tr[data-seq="50000"]').waitFor();
    const jump = Date.now() - t;
    expect(await rows.count()).toBe(PAGE_ROWS);

    // Server-side filters over the whole history: a type filter and a text search.
    t = Date.now();
    await page.goto(`${ui.url}runs/${runId}/history?kinds=TaskCompleted`);
    await page.locator('tr[data-kind="TaskCompleted"]').first().waitFor();
    const filtered = Date.now() - t;
    expect(await rows.evaluateAll((trs) => trs.every((tr) => tr.getAttribute('data-kind') === 'TaskCompleted'))).toBe(true);
    expect(await rows.count()).toBe(PAGE_ROWS);
    t = Date.now();
    await page.goto(`${ui.url}runs/${runId}/history?q=${encodeURIComponent('progress 99998')}`);
    await page.locator('tr[data-kind="ProgressReported"]').first().waitFor();
    const searched = Date.now() - t;
    expect(await rows.count()).toBe(1);
    console.log(`[ui-big] API requests of the first load (name, ms, KB): ${JSON.stringify(api)}`);
    console.log(
      `[ui-big] 100,000-event history in Chromium: first page ${firstPage} ms (goto → rows shown), next page ${nextPage} ms, last page ${lastPage} ms, jump to seq 50000 ${jump} ms, type filter ${filtered} ms, text search ${searched} ms`,
    );
    expect(page.problems).toEqual([]);
  });

  it('shows 2,000 steps as one collapsed fan-out, paged when opened, and a paged timeline', async () => {
    const t0 = Date.now();
    await page.goto(`${ui.url}runs/${runId}`);
    const group = page.locator('.group-card');
    await group.waitFor();
    const stepsLoad = Date.now() - t0;
    expect(await group.textContent()).toContain(`×${STEPS}`);
    expect(await page.locator('.step-card').count()).toBe(0);
    await group.locator('button[aria-expanded]').first().click();
    await expect.poll(() => group.locator('.step-card').count(), POLL).toBe(50);
    await group.getByRole('button', { name: 'Next 50 →' }).click();
    await group.locator('.step-card[data-step="work#51"]').waitFor();
    expect(await group.locator('.step-card').count()).toBe(50);
    // A focused step deep in the group opens its page, and only that page.
    await page.goto(`${ui.url}runs/${runId}/steps?step=${encodeURIComponent('work#1500')}`);
    await page.locator('.step-card.focused[data-step="work#1500"]').waitFor();
    expect(await page.locator('.step-card').count()).toBe(50);
    expect(await page.getByTestId('step-pager').textContent()).toContain('1451–1500 of 2000');
    await screenshots(page, 'steps-2000');
    const t1 = Date.now();
    await page.locator('nav.tabs a', { hasText: 'Timeline' }).click();
    const tl = page.getByTestId('timeline');
    await tl.waitFor();
    const timelineLoad = Date.now() - t1;
    expect(Number(await tl.getAttribute('data-rows'))).toBe(200);
    await page.getByRole('button', { name: 'Next rows →' }).click();
    await page.locator('.tl-row[data-step="work#201"]').waitFor();
    console.log(`[ui-big] ${STEPS} steps: run page with the Steps tab ${stepsLoad} ms, Timeline tab ${timelineLoad} ms`);
    expect(page.problems).toEqual([]);
  });

  it('pages the runs list with keyset cursors', async () => {
    const rows = page.getByTestId('runs-table').locator('tbody tr[data-run]');
    await page.goto(ui.url);
    await expect.poll(() => rows.count(), POLL).toBe(50);
    const ids = async (): Promise<string[]> => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run')!));
    const first = await ids();
    await page.getByTestId('runs-next').click();
    await page.waitForURL(/after=/);
    // The next page has rendered (not the empty table while it loads).
    await expect.poll(async () => {
      const now = await ids();
      return now.length === 50 && now[0] !== first[0];
    }, POLL).toBe(true);
    const second = await ids();
    expect(second).toHaveLength(50);
    expect(second.filter((id) => first.includes(id))).toEqual([]);
    await page.getByTestId('runs-next').click();
    await expect.poll(() => rows.count(), POLL).toBe(122 - 100);
    expect(await page.getByTestId('runs-next').count()).toBe(0);
    await page.getByRole('button', { name: '⇤ Newest' }).click();
    await expect.poll(async () => (await ids())[0], POLL).toBe(first[0]);
  });
});
