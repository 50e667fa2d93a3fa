/**
 * `larkflow ui` as users start it, in Chromium: the command (dist/bundle) serves a temp database,
 * the browser opens the runs list, a workflow started afterwards by `larkflow run` in another
 * process appears in the list and its steps appear and complete on the run page without a reload,
 * and the page's cancel button (with --allow-actions) cancels a second run driven by another
 * process. SIGTERM stops the server with the page's stream open.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/index.js';
import { cli, scratchDirs } from '../helpers/cli.js';
import { POLL, launchBrowser, newPage } from './browser-helpers.js';

const BIN = join(__dirname, '../../dist/bundle/larkflow.mjs');
const scratch = scratchDirs('larkflow-ui-cli-');

function larkflow(args: string[], cwd: string) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exit, out: () => out, err: () => err };
}

async function until<T>(fn: () => T | undefined, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TASKS = `import { existsSync } from 'node:fs';
export async function step(i) { await new Promise((r) => setTimeout(r, 150)); return i * 10; }
export async function wait_for(path) { while (!existsSync(path)) await new Promise((r) => setTimeout(r, 50)); return 'opened'; }
`;
const WORKFLOW = `step = task("step")
wait_for = task("wait_for")

@workflow()
def steps(n):
    return [step(i) for i in range(n)]

@workflow()
def gated(path):
    return wait_for(path)
`;

describe.sequential('larkflow ui (the command) in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows a run started by another process live, and cancels one from the page', async () => {
    const s = scratch();
    const wf = s.file('wf.star', WORKFLOW);
    const tasks = s.file('tasks.mjs', TASKS);
    await Engine.open({ db: s.db }).close();
    const ui = larkflow(['ui', '--db', s.db, '--port', '0', '--allow-actions'], s.dir);
    try {
      const url = await until(() => /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(ui.out())?.[1], 'the URL of larkflow ui');
      const page = await newPage(browser);
      await page.goto(url);
      await page.locator('table').first().waitFor(POLL);

      // A run started now, elsewhere, shows up and is followed live.
      const run = larkflow(['run', wf, '--workflow', 'steps', 'n=4', '--tasks', tasks, '--db', s.db], s.dir);
      const runId = await until(() => /(run-[0-9a-f]{12})/.exec(run.err())?.[1], 'the run id');
      await page.locator(`tr[data-run="${runId}"]`).waitFor(POLL);
      await page.goto(`${url}runs/${runId}`);
      // Without a reload, the steps appear and complete, and the run's state turns completed.
      await page.locator('#run-state[data-state="completed"]').waitFor(POLL);
      expect(await run.exit).toBe(0);
      await expect.poll(() => page.locator('[data-step][data-state="completed"], .group-card[data-state="completed"]').count(), POLL).toBeGreaterThan(0);
      expect(await page.locator('body').innerText()).toContain('steps');

      // A second run, waiting on a file; cancelled from the page.
      const gated = larkflow(['run', wf, '--workflow', 'gated', `path=${join(s.dir, 'never')}`, '--tasks', tasks, '--db', s.db], s.dir);
      const gatedId = await until(() => /(run-[0-9a-f]{12})/.exec(gated.err())?.[1], 'the second run id');
      await page.goto(`${url}runs/${gatedId}`);
      await page.locator('#run-state[data-state="running"]').waitFor(POLL);
      await page.getByRole('button', { name: 'Cancel run' }).click();
      const dialog = page.locator('dialog.modal[open]');
      await dialog.locator('textarea[name="reason"]').fill('stopped from the browser');
      await dialog.getByRole('button', { name: 'Cancel run' }).click();
      await page.locator('#run-state[data-state="cancelled"]').waitFor(POLL);
      const rows = await cli('runs', '--db', s.db, '--status', 'cancelled');
      expect(rows.out).toContain(gatedId);
      gated.child.kill('SIGKILL');
      expect(page.problems).toEqual([]);
      await page.context().close();
    } finally {
      ui.child.kill('SIGTERM');
      expect(await ui.exit).toBe(0);
    }
  }, 120_000);
});
