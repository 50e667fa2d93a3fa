/**
 * This file defines run ownership between processes sharing one database: a process marks each run
 * it runs with a pid file (`locks/<run>.pid` beside the database), and another process's `recover()`
 * leaves a run alone while the pid in its mark belongs to a live process. A process killed with -9
 * leaves a mark whose pid is dead, so its runs are recovered. This assumes that every process sharing
 * the database runs on one machine, as SQLite does.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class RunOwnership {
  /** @param dir where the marks are; undefined for in-memory engines (no other process to fence) */
  constructor(private readonly dir: string | undefined) {}

  /** Marks a run as live in this process. Best effort: without the mark, another worker may take it. */
  claim(runId: string): void {
    if (!this.dir) return;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(this.file(runId), String(process.pid));
    } catch {
      // see above
    }
  }

  /** Removes this process's mark of a run (another process's mark is left alone). */
  release(runId: string): void {
    if (!this.dir) return;
    try {
      if (Number(readFileSync(this.file(runId), 'utf8')) === process.pid) rmSync(this.file(runId), { force: true });
    } catch {
      // no mark: nothing to remove
    }
  }

  /** True if another live process runs this run. */
  ownedElsewhere(runId: string): boolean {
    if (!this.dir) return false;
    let pid: number;
    try {
      pid = Number(readFileSync(this.file(runId), 'utf8'));
    } catch {
      return false;
    }
    if (!Number.isInteger(pid) || pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  private file(runId: string): string {
    return join(this.dir!, `${runId}.pid`);
  }
}
