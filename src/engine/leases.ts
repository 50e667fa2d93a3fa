/**
 * This file defines how an engine holds its runs: a lease with a fencing epoch on each run's row in
 * the store (the design of the scale-out notes, §5.2). A worker id names the engine
 * (`host/pid/nonce`); `EventStore.createRun` and `claimRun` make it a run's owner at a new epoch,
 * every append carries `{ owner, epoch }` and is refused once another worker has claimed the run,
 * and the `LeaseKeeper` here renews the leases of the live runs every quarter lease, reporting the
 * runs it lost so the engine drops them at once.
 *
 * A lease runs out on its own when its worker dies. On one machine we need not wait for that: a
 * holder whose process is gone (or a zombie) on this host, or an engine of this very process that
 * has been closed, is broken at once (`holderIsGone`). Across machines only the lease's expiry
 * counts: pids mean nothing there.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { EventStore, LeaseHolder, RunLease } from './core/ports.js';

/** Worker ids of the engines open in this process (a holder of ours not in here is gone). */
const openWorkers = new Set<string>();

/** A new worker id for an engine of this process: `host/pid/nonce`. */
export function newWorkerId(): string {
  const id = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  openWorkers.add(id);
  return id;
}

/** Marks an engine of this process closed: its leases may be broken at once. */
export function retireWorkerId(id: string): void {
  openWorkers.delete(id);
}

/**
 * True if the lease's holder can no longer drive the run although its lease has not run out: a
 * process of this machine that has exited or is a zombie, or a closed engine of this process.
 */
export function holderIsGone(holder: LeaseHolder): boolean {
  if (holder.owner === null) return true;
  const parts = holder.owner.split('/');
  if (parts.length !== 3 || parts[0] !== hostname()) return false;
  const pid = Number(parts[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return !openWorkers.has(holder.owner);
  return !processIsAlive(pid);
}

/** True if a live worker holds the lease: an owner, a lease not run out, and not gone. */
export function leaseIsHeld(lease: LeaseHolder | undefined): boolean {
  return lease !== undefined && lease.owner !== null && lease.leaseUntil > lease.now && !holderIsGone(lease);
}

/** True if `pid` is a live process (not exited, not a zombie). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but is another user's.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(pid, 0) succeeds on a zombie (exited, not yet reaped by its parent): read its state.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): trust kill
  }
}

/** One held run, as the keeper sees it. */
export interface HeldRun extends RunLease {
  readonly runId: string;
}

/**
 * Renews the leases of an engine's live runs every `leaseMs / 4` and tells the engine which runs it
 * lost (another worker claimed them after this one failed to renew in time, e.g. while the machine
 * was suspended).
 */
export class LeaseKeeper {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: EventStore,
    readonly owner: string,
    readonly leaseMs: number,
    private readonly held: () => HeldRun[],
    private readonly onLost: (runIds: readonly string[]) => void,
  ) {
    this.timer = setInterval(() => this.renew(), Math.max(10, Math.floor(leaseMs / 4)));
    this.timer.unref();
  }

  /** Renews now; a store that fails is tried again at the next tick (the lease has slack). */
  renew(): void {
    const runs = this.held();
    if (runs.length === 0) return;
    let lost: string[];
    try {
      lost = this.store.renewLeases(this.owner, runs, this.leaseMs);
    } catch {
      return;
    }
    if (lost.length > 0) this.onLost(lost);
  }

  /** Stops renewing and gives up the given leases (best effort). */
  stop(release: readonly HeldRun[]): void {
    clearInterval(this.timer);
    try {
      this.store.releaseLeases(this.owner, release);
    } catch {
      // closing anyway: the leases run out on their own
    }
  }
}
