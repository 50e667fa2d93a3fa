/**
 * This file defines `larkflow signal RUN NAME [JSON] [--key K]` (send a signal to a run, whichever
 * process drives it: it waits in the run's inbox until the workflow takes it) and `larkflow events
 * RUN [KEY] [--wait SECONDS]` (the keys a run published with `events.set`, or one of them, waited for).
 */
import { CliError } from '../errors.js';
import { closeQuietly, openEngine, resolveRunId, type CliIo, type EngineCliOptions } from '../engine-options.js';
import { exactJson } from '../json-out.js';

export interface SignalOptions extends EngineCliOptions {
  readonly key?: string;
}

export async function signalCommand(runArg: string, name: string, json: string | undefined, opts: SignalOptions, io: CliIo): Promise<number> {
  let payload: unknown = null;
  if (json !== undefined) {
    try {
      payload = JSON.parse(json);
    } catch (e) {
      throw new CliError(`the signal's payload is not valid JSON: ${(e as Error).message} (quote strings: '"yes"')`);
    }
  }
  const { dbOption, isSharedDbUrl, postToSharedRun } = await import('../shared-db.js');
  const shared = dbOption(opts);
  if (isSharedDbUrl(shared)) {
    // A shared database: straight into the run's inbox; whichever worker holds the run takes it.
    if (name === '' || name.startsWith('__update__:') || name === '__cancel__') throw new CliError(`a signal needs a name that is not reserved (${name === '' ? 'empty' : name})`);
    const r = await postToSharedRun(shared, runArg, { name, payload, ...(opts.key !== undefined ? { key: opts.key } : {}) });
    io.out(r.duplicate ? `signal ${name} was already sent to run ${runArg} with key ${opts.key} (message ${r.id})\n` : `signal ${name} sent to run ${runArg} (message ${r.id})\n`);
    return 0;
  }
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const runId = resolveRunId(engine, runArg);
    const r = engine.signal(runId, name, payload, opts.key !== undefined ? { key: opts.key } : {});
    io.out(r.duplicate ? `signal ${name} was already sent to run ${runId} with key ${opts.key} (message ${r.id})\n` : `signal ${name} sent to run ${runId} (message ${r.id})\n`);
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}

export interface EventsOptions extends EngineCliOptions {
  readonly wait?: string;
}

export async function eventsCommand(runArg: string, key: string | undefined, opts: EventsOptions, io: CliIo): Promise<number> {
  let timeoutMs: number | undefined;
  if (opts.wait !== undefined) {
    const s = Number(opts.wait);
    if (!(s >= 0) || !Number.isFinite(s)) throw new CliError(`--wait takes a number of seconds, not ${JSON.stringify(opts.wait)}`);
    timeoutMs = s * 1000;
  }
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const runId = resolveRunId(engine, runArg);
    if (key === undefined) {
      const events = engine.state(runId).events;
      io.out(exactJson(events) + '\n');
      return 0;
    }
    const value = await engine.getEvent(runId, key, timeoutMs !== undefined ? { timeoutMs } : {});
    if (value === undefined) {
      io.err(`run ${runId} has not set event ${key}${timeoutMs !== undefined ? ` (waited ${timeoutMs / 1000}s)` : ''}\n`);
      return 1;
    }
    io.out(exactJson(value) + '\n');
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}

/** `larkflow query RUN NAME [ARGS...]`: a query handler's answer (arguments as JSON), printed as JSON. */
export async function queryCommand(runArg: string, name: string, rawArgs: readonly string[], opts: EngineCliOptions, io: CliIo): Promise<number> {
  const args = rawArgs.map((a, i) => {
    try {
      return JSON.parse(a) as unknown;
    } catch {
      // A bare word is a string, as for run's key=value inputs.
      if (/^[A-Za-z_][\w.-]*$/.test(a)) return a;
      throw new CliError(`query argument ${i + 1} is not valid JSON: ${a}`);
    }
  });
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const runId = resolveRunId(engine, runArg);
    io.out(exactJson(engine.query(runId, name, ...args)) + '\n');
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}

/** `larkflow update RUN NAME [ARGS...]`: sends an update (arguments as JSON) and prints its result. */
export async function updateCommand(runArg: string, name: string, rawArgs: readonly string[], opts: EngineCliOptions, io: CliIo): Promise<number> {
  const args = rawArgs.map((a, i) => {
    try {
      return JSON.parse(a) as unknown;
    } catch {
      if (/^[A-Za-z_][\w.-]*$/.test(a)) return a;
      throw new CliError(`update argument ${i + 1} is not valid JSON: ${a}`);
    }
  });
  const engine = await openEngine(opts, { mustExist: true });
  try {
    const runId = resolveRunId(engine, runArg);
    io.out(exactJson(await engine.update(runId, name, ...args)) + '\n');
    return 0;
  } finally {
    await closeQuietly(engine);
  }
}
