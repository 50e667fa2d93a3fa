/**
 * This file defines `pipeline.yaml` (Uniflow's Pipeline resource): parsing with source positions and
 * validation of every field larkflow accepts. Every problem is collected (unknown fields with a
 * did-you-mean, wrong types, missing required fields, malformed cron expressions) and thrown as one
 * `PipelineSpecError` whose `render()` shows `file:line:col: message`, the source line and a caret.
 * Triggers and notifications are validated and kept as data: they are executed elsewhere.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';

/** The apiVersions accepted: Uniflow's, and larkflow's own. */
export const API_VERSIONS = ['michelangelo.api/v2', 'larkflow.dev/v1'] as const;
/** The standard (built-in) pipelines, configured entirely by YAML (`spec.standard`). */
export const STANDARD_PIPELINES = ['train', 'evaluate', 'batch_predict'] as const;
export type StandardPipelineName = (typeof STANDARD_PIPELINES)[number];
/** The tasks each standard pipeline calls (in order): required, and optional ones it calls when configured. */
export const STANDARD_TASKS: Readonly<Record<StandardPipelineName, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  train: { required: ['load_data', 'train'], optional: ['evaluate'] },
  evaluate: { required: ['load_data', 'evaluate'], optional: [] },
  batch_predict: { required: ['load_data', 'predict'], optional: ['write_output'] },
};
export const NOTIFICATION_TYPES = ['EMAIL', 'SLACK', 'WEBHOOK'] as const;
export const RESOURCE_TYPES = ['PIPELINE_RUN', 'TRIGGER_RUN', 'PIPELINE'] as const;
export const EVENT_TYPES = [
  'EVENT_TYPE_PIPELINE_RUN_STATE_STARTED',
  'EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED',
  'EVENT_TYPE_PIPELINE_RUN_STATE_FAILED',
  'EVENT_TYPE_PIPELINE_RUN_STATE_KILLED',
  'EVENT_TYPE_PIPELINE_RUN_STATE_SKIPPED',
  'EVENT_TYPE_TRIGGER_RUN_STATE_STARTED',
  'EVENT_TYPE_TRIGGER_RUN_STATE_SUCCEEDED',
  'EVENT_TYPE_TRIGGER_RUN_STATE_FAILED',
  'EVENT_TYPE_TRIGGER_RUN_STATE_KILLED',
  'EVENT_TYPE_TRIGGER_TICK_SKIPPED',
] as const;
/**
 * The events of a trigger (resourceType TRIGGER_RUN): a run a trigger (or a backfill) started, and
 * how it ended; a tick that started no run on time (held back by maxConcurrency or batchPolicy, or
 * dropped by the catch-up policy). The others are pipeline-run events (resourceType PIPELINE_RUN).
 */
export const TRIGGER_EVENT_TYPES: readonly (typeof EVENT_TYPES)[number][] = EVENT_TYPES.filter((e) => e.startsWith('EVENT_TYPE_TRIGGER_'));
export const CACHE_MODES = ['use', 'refresh', 'off'] as const;
/**
 * `manifest.executor`: where the tasks that name no executor run, as `larkflow run --executor`
 * (`local`: as `--local`, every Python task on this machine).
 */
export const EXECUTORS = ['local', 'k8s', 'subprocess', 'ray', 'kuberay', 'livy', 'spark'] as const;

/** One parameter set of a trigger: the run's environment, keyword and positional arguments. */
export interface TriggerParameters {
  readonly environ?: Readonly<Record<string, string>>;
  readonly kw_args?: Readonly<Record<string, unknown>>;
  readonly args?: readonly unknown[];
}

/** `manifest.triggerMap.<name>`. */
export interface TriggerSpec {
  readonly cronSchedule?: { readonly cron: string; readonly timezone?: string };
  /** Every `interval` ("15m", "1h"), counted from the epoch (Uniflow specifies it but never built it). */
  readonly intervalSchedule?: { readonly interval: string };
  /** Which ticks missed while no worker ran fire: every one, only the latest (default), or none. */
  readonly catchUp?: 'all' | 'latest' | 'skip';
  readonly maxConcurrency?: number;
  readonly batchPolicy?: { readonly batchSize?: number; readonly wait?: string };
  readonly parametersMap?: Readonly<Record<string, TriggerParameters>>;
}

/** `spec.notifications[i]`. */
export interface NotificationSpec {
  readonly notificationType: (typeof NOTIFICATION_TYPES)[number];
  readonly resourceType?: (typeof RESOURCE_TYPES)[number];
  readonly eventTypes: readonly (typeof EVENT_TYPES)[number][];
  readonly emails?: readonly string[];
  readonly slackDestinations?: readonly string[];
  readonly url?: string;
}

/** `spec.manifest`. */
export interface ManifestSpec {
  readonly type?: string;
  /** The workflow file (.star or Uniflow .py), relative to the yaml's directory. Absent for standard pipelines. */
  readonly filePath?: string;
  readonly workflow?: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly environ: Readonly<Record<string, string>>;
  /** A JS tasks module, relative to the yaml's directory. */
  readonly tasks?: string;
  readonly executor?: (typeof EXECUTORS)[number];
  readonly image?: string;
  readonly namespace?: string;
  readonly storage?: string;
  readonly cache?: (typeof CACHE_MODES)[number];
  readonly triggerMap: Readonly<Record<string, TriggerSpec>>;
}

/** One task of a standard pipeline's `spec.config.tasks`. */
export interface StandardTaskConfig {
  readonly command: readonly string[];
  readonly image?: string;
  readonly retries?: number;
  readonly timeout?: string;
  readonly cache?: boolean;
}

/** `spec.config` of a standard pipeline. */
export interface StandardConfig {
  readonly tasks: Readonly<Record<string, StandardTaskConfig>>;
  readonly params: Readonly<Record<string, unknown>>;
}

/** A validated pipeline.yaml. */
export interface PipelineSpec {
  readonly apiVersion: (typeof API_VERSIONS)[number];
  readonly kind: 'Pipeline';
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly annotations: Readonly<Record<string, string>>;
    readonly labels: Readonly<Record<string, string>>;
  };
  readonly spec: {
    readonly type?: string;
    readonly manifest: ManifestSpec;
    readonly standard?: StandardPipelineName;
    readonly config?: StandardConfig;
    readonly notifications: readonly NotificationSpec[];
    readonly commit?: { readonly gitRef?: string; readonly branch?: string };
  };
}

/** A validated spec with where it came from. */
export interface LoadedPipelineSpec {
  readonly spec: PipelineSpec;
  /** The absolute path of the yaml file. */
  readonly file: string;
  /** Its directory: relative paths of the spec resolve against it. */
  readonly dir: string;
  /** The yaml text. */
  readonly text: string;
}

/** One problem of a spec, with its position (1-based). */
export interface PipelineSpecProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  /** The source line the position is on. */
  readonly source: string;
}

/** Every problem of a pipeline.yaml. */
export class PipelineSpecError extends Error {
  readonly problems: readonly PipelineSpecProblem[];

  constructor(problems: readonly PipelineSpecProblem[]) {
    // In source order (a stable sort keeps the order of problems at the same place).
    problems = [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
    super(problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join('\n'));
    this.name = 'PipelineSpecError';
    this.problems = problems;
  }

  /** Each problem: `file:line:col: message`, the source line, and a caret under the column. */
  render(): string {
    const out: string[] = [];
    for (const p of this.problems) {
      out.push(`${p.file}:${p.line}:${p.col}: ${p.message}`);
      out.push(`  ${p.source}`);
      out.push(`  ${' '.repeat(Math.max(0, p.col - 1))}^`);
    }
    out.push(`${this.problems.length} problem${this.problems.length === 1 ? '' : 's'} in ${this.problems[0]?.file ?? 'the pipeline spec'}`);
    return out.join('\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Did-you-mean

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** The closest candidate to `word`, when close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

// ---------------------------------------------------------------------------------------------
// The checker

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Validates YAML nodes, collecting problems with positions. */
class Checker {
  readonly problems: PipelineSpecProblem[] = [];
  private readonly lines: string[];

  constructor(
    private readonly file: string,
    text: string,
    private readonly counter: LineCounter,
  ) {
    this.lines = text.split(/\r?\n/);
  }

  /** A problem at a source offset. */
  at(offset: number, message: string): void {
    const { line, col } = this.counter.linePos(offset);
    this.problems.push({ file: this.file, line, col, message, source: this.lines[line - 1] ?? '' });
  }

  /** A problem at a node (or, for a missing one, at `fallback`). */
  on(node: Node | null | undefined, message: string, fallback = 0): void {
    this.at(node?.range?.[0] ?? fallback, message);
  }

  /** The YAML type name of a node for messages. */
  typeOf(node: Node | null | undefined): string {
    if (node === null || node === undefined) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) {
      const v = node.value;
      if (v === null) return 'null';
      if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 30 ? v.slice(0, 29) + '…' : v)}`;
      return `${typeof v === 'number' ? (Number.isInteger(v) ? 'the integer' : 'the number') : typeof v === 'boolean' ? 'the boolean' : typeof v} ${String(v)}`;
    }
    return 'an alias';
  }

  /**
   * The fields of a mapping by name, after checking that it is one and has only `allowed` keys
   * (unknown ones are problems with a did-you-mean) and every `required` key.
   */
  fields(node: Node | null | undefined, what: string, allowed: readonly string[], required: readonly string[] = [], parentOffset = 0): Map<string, { pair: Pair; value: Node | null }> | undefined {
    const out = new Map<string, { pair: Pair; value: Node | null }>();
    if (!isMap(node)) {
      this.on(node, `${what} must be a mapping, not ${this.typeOf(node)} (expected a mapping with ${allowed.slice(0, 6).join(', ')}${allowed.length > 6 ? ', ...' : ''})`, parentOffset);
      return undefined;
    }
    for (const pair of (node as YAMLMap).items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) {
        this.on(keyNode, `${what}: keys must be plain names`, node.range?.[0] ?? 0);
        continue;
      }
      if (!allowed.includes(key)) {
        const dym = didYouMean(key, allowed);
        this.on(keyNode, `unknown field ${JSON.stringify(key)} in ${what}${dym ? ` (did you mean ${JSON.stringify(dym)}?)` : ''} (expected one of ${allowed.join(', ')})`);
        continue;
      }
      if (out.has(key)) {
        this.on(keyNode, `${what}: ${key} is given twice`);
        continue;
      }
      out.set(key, { pair, value: (pair.value as Node | null) ?? null });
    }
    for (const r of required) {
      if (!out.has(r)) this.on(node, `${what} is missing the required field ${r}`);
    }
    return out;
  }

  str(node: Node | null, what: string, options: { oneOf?: readonly string[]; pattern?: RegExp; patternHelp?: string; nonEmpty?: boolean } = {}): string | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.on(node, `${what} must be a string, not ${this.typeOf(node)}${options.oneOf ? ` (expected one of ${options.oneOf.join(', ')})` : ''}`);
      return undefined;
    }
    const v = node.value;
    if (options.oneOf && !options.oneOf.includes(v)) {
      const dym = didYouMean(v, options.oneOf);
      this.on(node, `${what} is ${JSON.stringify(v)}${dym ? ` (did you mean ${dym}?)` : ''} (expected one of ${options.oneOf.join(', ')})`);
      return undefined;
    }
    if ((options.nonEmpty ?? true) && v.trim() === '') {
      this.on(node, `${what} must not be empty`);
      return undefined;
    }
    if (options.pattern && !options.pattern.test(v)) {
      this.on(node, `${what} ${JSON.stringify(v)} is malformed (expected ${options.patternHelp ?? options.pattern.source})`);
      return undefined;
    }
    return v;
  }

  int(node: Node | null, what: string, min = 0): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      this.on(node, `${what} must be an integer, not ${this.typeOf(node)}`);
      return undefined;
    }
    if (node.value < min) {
      this.on(node, `${what} must be at least ${min}, not ${node.value}`);
      return undefined;
    }
    return node.value;
  }

  bool(node: Node | null, what: string): boolean | undefined {
    if (!isScalar(node) || typeof node.value !== 'boolean') {
      this.on(node, `${what} must be true or false, not ${this.typeOf(node)}`);
      return undefined;
    }
    return node.value;
  }

  strList(node: Node | null, what: string, options: { oneOf?: readonly string[]; nonEmpty?: boolean } = {}): string[] | undefined {
    if (!isSeq(node)) {
      this.on(node, `${what} must be a list of strings, not ${this.typeOf(node)}`);
      return undefined;
    }
    const out: string[] = [];
    let ok = true;
    node.items.forEach((item, i) => {
      const s = this.str(item as Node | null, `${what}[${i}]`, options.oneOf ? { oneOf: options.oneOf } : {});
      if (s === undefined) ok = false;
      else out.push(s);
    });
    if (ok && options.nonEmpty && out.length === 0) {
      this.on(node, `${what} must not be empty`);
      return undefined;
    }
    return ok ? out : undefined;
  }

  /** A mapping of names to strings (environment, annotations). */
  strMap(node: Node | null, what: string, keyPattern?: RegExp, keyHelp?: string): Record<string, string> | undefined {
    if (!isMap(node)) {
      this.on(node, `${what} must be a mapping of names to strings, not ${this.typeOf(node)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    let ok = true;
    for (const pair of node.items) {
      const k = pair.key as Node | null;
      const key = isScalar(k) ? String(k.value) : undefined;
      if (key === undefined || (keyPattern && !keyPattern.test(key))) {
        this.on(k, `${what}: bad name ${key === undefined ? this.typeOf(k) : JSON.stringify(key)} (expected ${keyHelp ?? 'a name'})`);
        ok = false;
        continue;
      }
      const v = pair.value as Node | null;
      // Numbers and booleans are written without quotes often enough (DATASET: 2): kept as their text.
      if (isScalar(v) && (typeof v.value === 'string' || typeof v.value === 'number' || typeof v.value === 'boolean')) {
        Object.defineProperty(out, key, { value: typeof v.value === 'string' ? v.value : String(v.source ?? v.value), enumerable: true, writable: true, configurable: true });
      } else {
        this.on(v, `${what}.${key} must be a string, not ${this.typeOf(v)}`);
        ok = false;
      }
    }
    return ok ? out : undefined;
  }

  /** Any JSON value (inputs, params, kw_args): no aliases, tags beyond JSON's, or non-string keys. */
  json(node: Node | null, what: string): Json | undefined {
    if (node === null) return null;
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) {
          this.on(node, `${what} must be a finite number, not ${String(v)}`);
          return undefined;
        }
        return v;
      }
      this.on(node, `${what} must be JSON data (string, number, boolean, null, list, mapping), not ${this.typeOf(node)}`);
      return undefined;
    }
    if (isSeq(node)) {
      const out: Json[] = [];
      let ok = true;
      node.items.forEach((x, i) => {
        const v = this.json(x as Node | null, `${what}[${i}]`);
        if (v === undefined) ok = false;
        else out.push(v);
      });
      return ok ? out : undefined;
    }
    if (isMap(node)) {
      const out: { [k: string]: Json } = {};
      let ok = true;
      for (const pair of node.items) {
        const k = pair.key as Node | null;
        if (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number')) {
          this.on(k, `${what}: keys must be strings, not ${this.typeOf(k)}`);
          ok = false;
          continue;
        }
        const key = String(k.value);
        const v = this.json(pair.value as Node | null, `${what}.${key}`);
        if (v === undefined) ok = false;
        else Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return ok ? out : undefined;
    }
    this.on(node, `${what}: YAML aliases are not supported here`);
    return undefined;
  }
}

const NAME_RE = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const DURATION_RE = /^(\d+(\.\d+)?(ms|s|m|h|d))+$/;

/** A light check of a 5-field cron expression: the field count and each field's characters and ranges. */
export function cronProblem(cron: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (cron.trim().startsWith('@')) {
    return ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'].includes(cron.trim()) ? undefined : `unknown cron macro ${cron.trim()} (expected @hourly, @daily, @weekly, @monthly or @yearly)`;
  }
  if (fields.length !== 5) return `cron ${JSON.stringify(cron)} has ${fields.length} field${fields.length === 1 ? '' : 's'} (expected 5: minute hour day-of-month month day-of-week)`;
  const ranges: [string, number, number][] = [
    ['minute', 0, 59],
    ['hour', 0, 23],
    ['day-of-month', 1, 31],
    ['month', 1, 12],
    ['day-of-week', 0, 7],
  ];
  for (let i = 0; i < 5; i++) {
    const [name, lo, hi] = ranges[i]!;
    const f = fields[i]!;
    const named = i === 3 ? /^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)$/i : i === 4 ? /^(sun|mon|tue|wed|thu|fri|sat)$/i : undefined;
    for (const part of f.split(',')) {
      const [range, step] = part.split('/');
      if (step !== undefined && !/^\d+$/.test(step)) return `cron ${name} field ${JSON.stringify(f)}: bad step ${JSON.stringify(step)}`;
      if (range === '*') continue;
      for (const end of (range ?? '').split('-')) {
        if (named?.test(end)) continue;
        if (!/^\d+$/.test(end)) return `cron ${name} field ${JSON.stringify(f)} is malformed (expected numbers, ranges a-b, lists a,b, steps */n)`;
        const n = Number(end);
        if (n < lo || n > hi) return `cron ${name} ${n} is out of range (expected ${lo}-${hi})`;
      }
    }
  }
  return undefined;
}

/**
 * Parses and validates a pipeline.yaml text.
 * @param file the name used in messages (and to resolve nothing: paths stay as written)
 * @throws PipelineSpecError with every problem found
 */
export function parsePipelineSpec(text: string, file: string): PipelineSpec {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  const c = new Checker(file, text, counter);
  for (const e of doc.errors) c.at(e.pos[0], `YAML syntax error: ${e.message.split('\n')[0]}`);
  if (c.problems.length > 0) throw new PipelineSpecError(c.problems);
  const root = doc.contents as Node | null;
  const top = c.fields(root, 'the pipeline spec', ['apiVersion', 'kind', 'metadata', 'spec'], ['apiVersion', 'kind', 'metadata', 'spec']);
  if (!top) throw new PipelineSpecError(c.problems);

  const apiVersion = top.has('apiVersion') ? (c.str(top.get('apiVersion')!.value, 'apiVersion', { oneOf: API_VERSIONS }) as PipelineSpec['apiVersion'] | undefined) : undefined;
  if (top.has('kind')) c.str(top.get('kind')!.value, 'kind', { oneOf: ['Pipeline'] });

  // metadata
  let name: string | undefined;
  let namespace: string | undefined;
  let annotations: Record<string, string> = {};
  let labels: Record<string, string> = {};
  const md = top.get('metadata');
  if (md) {
    const m = c.fields(md.value, 'metadata', ['name', 'namespace', 'annotations', 'labels'], ['name'], md.pair.key ? ((md.pair.key as Node).range?.[0] ?? 0) : 0);
    if (m) {
      const n = m.get('name');
      if (n) name = c.str(n.value, 'metadata.name', { pattern: NAME_RE, patternHelp: 'lower-case letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 63 characters' });
      const ns = m.get('namespace');
      if (ns) namespace = c.str(ns.value, 'metadata.namespace', { pattern: NAME_RE, patternHelp: 'lower-case letters, digits, ".", "_" and "-"' });
      const an = m.get('annotations');
      if (an) annotations = c.strMap(an.value, 'metadata.annotations') ?? {};
      const lb = m.get('labels');
      if (lb) labels = c.strMap(lb.value, 'metadata.labels') ?? {};
    }
  }

  // spec
  let manifest: ManifestSpec = { inputs: {}, environ: {}, triggerMap: {} };
  let standard: StandardPipelineName | undefined;
  let config: StandardConfig | undefined;
  let specType: string | undefined;
  let notifications: NotificationSpec[] = [];
  let commit: { gitRef?: string; branch?: string } | undefined;
  const sp = top.get('spec');
  if (sp) {
    const keyOffset = (sp.pair.key as Node | null)?.range?.[0] ?? 0;
    const s = c.fields(sp.value, 'spec', ['type', 'manifest', 'standard', 'config', 'notifications', 'commit'], [], keyOffset);
    if (s) {
      const t = s.get('type');
      if (t) specType = c.str(t.value, 'spec.type', { pattern: /^PIPELINE_TYPE_[A-Z_]+$/, patternHelp: 'PIPELINE_TYPE_TRAIN, PIPELINE_TYPE_EVALUATION, PIPELINE_TYPE_PREDICTION, ...' });
      const st = s.get('standard');
      if (st) standard = c.str(st.value, 'spec.standard', { oneOf: STANDARD_PIPELINES }) as StandardPipelineName | undefined;
      const mf = s.get('manifest');
      if (mf) manifest = checkManifest(c, mf.value, standard !== undefined || (st !== undefined), (mf.pair.key as Node | null)?.range?.[0] ?? 0) ?? manifest;
      else if (!st) c.on(sp.value, 'spec is missing the required field manifest (with manifest.filePath), or give spec.standard for a standard pipeline');
      const cf = s.get('config');
      if (cf) {
        if (!st) c.on(cf.pair.key as Node, 'spec.config configures a standard pipeline: give spec.standard too (train, evaluate or batch_predict)');
        config = checkStandardConfig(c, cf.value, standard);
      } else if (st) c.on(st.pair.key as Node, 'a standard pipeline needs spec.config (with config.tasks)');
      const nt = s.get('notifications');
      if (nt) notifications = checkNotifications(c, nt.value);
      const cm = s.get('commit');
      if (cm) {
        const f = c.fields(cm.value, 'spec.commit', ['gitRef', 'branch']);
        if (f) {
          commit = {};
          const g = f.get('gitRef');
          if (g) commit.gitRef = c.str(g.value, 'spec.commit.gitRef');
          const b = f.get('branch');
          if (b) commit.branch = c.str(b.value, 'spec.commit.branch');
        }
      }
    }
  }
  if (c.problems.length > 0) throw new PipelineSpecError(c.problems);
  return {
    apiVersion: apiVersion!,
    kind: 'Pipeline',
    metadata: { name: name!, ...(namespace !== undefined ? { namespace } : {}), annotations, labels },
    spec: {
      ...(specType !== undefined ? { type: specType } : {}),
      manifest,
      ...(standard !== undefined ? { standard } : {}),
      ...(config !== undefined ? { config } : {}),
      notifications,
      ...(commit !== undefined ? { commit } : {}),
    },
  };
}

function checkManifest(c: Checker, node: Node | null, isStandard: boolean, keyOffset: number): ManifestSpec | undefined {
  const allowed = ['type', 'filePath', 'workflow', 'inputs', 'environ', 'tasks', 'executor', 'image', 'namespace', 'storage', 'cache', 'triggerMap'];
  const f = c.fields(node, 'spec.manifest', allowed, isStandard ? [] : ['filePath'], keyOffset);
  if (!f) return undefined;
  const out: { -readonly [K in keyof ManifestSpec]: ManifestSpec[K] } = { inputs: {}, environ: {}, triggerMap: {} };
  const get = (k: string): Node | null | undefined => (f.has(k) ? f.get(k)!.value : undefined);
  if (get('type') !== undefined) out.type = c.str(get('type')!, 'spec.manifest.type', { oneOf: ['PIPELINE_MANIFEST_TYPE_UNIFLOW', 'PIPELINE_MANIFEST_TYPE_STARLARK'] });
  if (get('filePath') !== undefined) {
    if (isStandard) c.on(f.get('filePath')!.pair.key as Node, 'spec.manifest.filePath and spec.standard contradict each other: a standard pipeline generates its workflow (give one of them)');
    else {
      const p = c.str(get('filePath')!, 'spec.manifest.filePath');
      if (p !== undefined && !/\.(star|py)$/.test(p)) c.on(get('filePath')!, `spec.manifest.filePath ${JSON.stringify(p)} must name a .star or .py workflow file (relative to the yaml's directory)`);
      else if (p !== undefined) out.filePath = p;
    }
  }
  if (get('workflow') !== undefined) out.workflow = c.str(get('workflow')!, 'spec.manifest.workflow', { pattern: IDENT_RE, patternHelp: 'a function name' });
  if (get('inputs') !== undefined) {
    const n = get('inputs')!;
    if (!isMap(n)) c.on(n, `spec.manifest.inputs must be a mapping of keyword inputs, not ${c.typeOf(n)}`);
    else {
      for (const p of n.items) {
        const k = p.key as Node | null;
        if (!isScalar(k) || typeof k.value !== 'string' || !IDENT_RE.test(k.value)) c.on(k, `spec.manifest.inputs: bad input name ${isScalar(k) ? JSON.stringify(k.value) : c.typeOf(k)} (expected a Starlark identifier)`);
      }
      const v = c.json(n, 'spec.manifest.inputs');
      if (v !== undefined) out.inputs = v as Record<string, unknown>;
    }
  }
  if (get('environ') !== undefined) out.environ = c.strMap(get('environ')!, 'spec.manifest.environ', ENV_RE, 'an environment variable name') ?? {};
  if (get('tasks') !== undefined) {
    const t = c.str(get('tasks')!, 'spec.manifest.tasks');
    if (t !== undefined && !/\.(m?js|cjs)$/.test(t)) c.on(get('tasks')!, `spec.manifest.tasks ${JSON.stringify(t)} must name a JS module (.mjs or .js)`);
    else if (t !== undefined) out.tasks = t;
  }
  if (get('executor') !== undefined) out.executor = c.str(get('executor')!, 'spec.manifest.executor', { oneOf: EXECUTORS }) as ManifestSpec['executor'];
  else {
    // Like `larkflow run --image/--namespace` without `--executor`.
    for (const k of ['image', 'namespace'] as const) {
      if (get(k) !== undefined) c.on(f.get(k)!.pair.key as Node, `spec.manifest.${k} configures remote tasks: give spec.manifest.executor too (${EXECUTORS.filter((e) => e !== 'local').join(', ')})`);
    }
  }
  if (get('image') !== undefined) out.image = c.str(get('image')!, 'spec.manifest.image', { pattern: /^\S+$/, patternHelp: 'an image reference without spaces' });
  if (get('namespace') !== undefined) out.namespace = c.str(get('namespace')!, 'spec.manifest.namespace', { pattern: NAME_RE, patternHelp: 'a Kubernetes namespace name' });
  if (get('storage') !== undefined) out.storage = c.str(get('storage')!, 'spec.manifest.storage');
  if (get('cache') !== undefined) out.cache = c.str(get('cache')!, 'spec.manifest.cache', { oneOf: CACHE_MODES }) as ManifestSpec['cache'];
  if (get('triggerMap') !== undefined) out.triggerMap = checkTriggers(c, get('triggerMap')!);
  for (const k of Object.keys(out) as (keyof ManifestSpec)[]) if (out[k] === undefined) delete out[k];
  return out;
}

function checkTriggers(c: Checker, node: Node | null): Record<string, TriggerSpec> {
  const out: Record<string, TriggerSpec> = {};
  if (!isMap(node)) {
    c.on(node, `spec.manifest.triggerMap must be a mapping of trigger names to triggers, not ${c.typeOf(node)}`);
    return out;
  }
  for (const pair of node.items) {
    const k = pair.key as Node | null;
    const name = isScalar(k) ? String(k.value) : '?';
    const what = `triggerMap.${name}`;
    const f = c.fields(pair.value as Node | null, what, ['cronSchedule', 'intervalSchedule', 'catchUp', 'maxConcurrency', 'batchPolicy', 'parametersMap'], [], k?.range?.[0] ?? 0);
    if (!f) continue;
    const t: { -readonly [K in keyof TriggerSpec]: TriggerSpec[K] } = {};
    const cs = f.get('cronSchedule');
    if (cs) {
      const g = c.fields(cs.value, `${what}.cronSchedule`, ['cron', 'timezone'], ['cron'], (cs.pair.key as Node).range?.[0] ?? 0);
      const cronNode = g?.get('cron')?.value ?? null;
      if (g?.has('cron')) {
        const cron = c.str(cronNode, `${what}.cronSchedule.cron`);
        if (cron !== undefined) {
          const problem = cronProblem(cron);
          if (problem) c.on(cronNode, problem);
          else {
            const tzNode = g.get('timezone')?.value;
            let timezone: string | undefined;
            if (tzNode !== undefined) {
              timezone = c.str(tzNode, `${what}.cronSchedule.timezone`);
              if (timezone !== undefined) {
                try {
                  new Intl.DateTimeFormat('en-US', { timeZone: timezone });
                } catch {
                  c.on(tzNode, `unknown time zone ${JSON.stringify(timezone)} (expected an IANA name such as Europe/Berlin or UTC)`);
                  timezone = undefined;
                }
              }
            }
            t.cronSchedule = { cron, ...(timezone !== undefined ? { timezone } : {}) };
          }
        }
      }
    }
    const is = f.get('intervalSchedule');
    if (is) {
      const g = c.fields(is.value, `${what}.intervalSchedule`, ['interval'], ['interval'], (is.pair.key as Node).range?.[0] ?? 0);
      if (g?.has('interval')) {
        const interval = c.str(g.get('interval')!.value, `${what}.intervalSchedule.interval`, { pattern: DURATION_RE, patternHelp: 'a duration such as "15m", "1h" or "1d"' });
        if (interval !== undefined) t.intervalSchedule = { interval };
      }
    }
    if (cs && is) c.on(k, `${what} has both a cronSchedule and an intervalSchedule: give one`);
    if (!cs && !is) c.on(k, `${what} needs a cronSchedule or an intervalSchedule`);
    const cu = f.get('catchUp');
    if (cu) {
      const v = c.str(cu.value, `${what}.catchUp`);
      if (v === 'all' || v === 'latest' || v === 'skip') t.catchUp = v;
      else if (v !== undefined) c.on(cu.value, `${what}.catchUp must be all, latest or skip (which ticks missed while no worker ran fire), not ${JSON.stringify(v)}`);
    }
    const mc = f.get('maxConcurrency');
    if (mc) t.maxConcurrency = c.int(mc.value, `${what}.maxConcurrency`, 0);
    const bp = f.get('batchPolicy');
    if (bp) {
      const g = c.fields(bp.value, `${what}.batchPolicy`, ['batchSize', 'wait']);
      if (g) {
        const b: { batchSize?: number; wait?: string } = {};
        if (g.has('batchSize')) b.batchSize = c.int(g.get('batchSize')!.value, `${what}.batchPolicy.batchSize`, 1);
        if (g.has('wait')) b.wait = c.str(g.get('wait')!.value, `${what}.batchPolicy.wait`, { pattern: DURATION_RE, patternHelp: 'a duration such as "600s" or "10m"' });
        t.batchPolicy = b;
      }
    }
    if (!mc && !bp) c.on(k, `${what} needs maxConcurrency or batchPolicy (how the runs of one tick are started)`);
    const pm = f.get('parametersMap');
    if (pm) {
      const params: Record<string, TriggerParameters> = {};
      if (!isMap(pm.value)) c.on(pm.value, `${what}.parametersMap must be a mapping of parameter-set ids to {environ, kw_args, args}, not ${c.typeOf(pm.value)}`);
      else {
        for (const pp of pm.value.items) {
          const pk = pp.key as Node | null;
          const id = isScalar(pk) ? String(pk.value) : '?';
          const w = `${what}.parametersMap.${id}`;
          const g = c.fields(pp.value as Node | null, w, ['environ', 'kw_args', 'args'], [], pk?.range?.[0] ?? 0);
          if (!g) continue;
          const p: { -readonly [K in keyof TriggerParameters]: TriggerParameters[K] } = {};
          if (g.has('environ')) p.environ = c.strMap(g.get('environ')!.value, `${w}.environ`, ENV_RE, 'an environment variable name');
          if (g.has('kw_args')) {
            const v = g.get('kw_args')!.value;
            if (!isMap(v)) c.on(v, `${w}.kw_args must be a mapping of keyword inputs, not ${c.typeOf(v)}`);
            else p.kw_args = c.json(v, `${w}.kw_args`) as Record<string, unknown> | undefined;
          }
          if (g.has('args')) {
            const v = g.get('args')!.value;
            if (!isSeq(v)) c.on(v, `${w}.args must be a list of positional inputs, not ${c.typeOf(v)}`);
            else p.args = c.json(v, `${w}.args`) as unknown[] | undefined;
          }
          params[id] = p;
        }
      }
      t.parametersMap = params;
    }
    out[name] = t;
  }
  return out;
}

function checkNotifications(c: Checker, node: Node | null): NotificationSpec[] {
  const out: NotificationSpec[] = [];
  if (!isSeq(node)) {
    c.on(node, `spec.notifications must be a list, not ${c.typeOf(node)}`);
    return out;
  }
  node.items.forEach((item, i) => {
    const what = `spec.notifications[${i}]`;
    const f = c.fields(item as Node | null, what, ['notificationType', 'resourceType', 'eventTypes', 'emails', 'slackDestinations', 'url'], ['notificationType', 'eventTypes']);
    if (!f) return;
    const type = f.has('notificationType') ? (c.str(f.get('notificationType')!.value, `${what}.notificationType`, { oneOf: NOTIFICATION_TYPES }) as NotificationSpec['notificationType'] | undefined) : undefined;
    const resourceType = f.has('resourceType') ? (c.str(f.get('resourceType')!.value, `${what}.resourceType`, { oneOf: RESOURCE_TYPES }) as NotificationSpec['resourceType']) : undefined;
    const eventTypes = f.has('eventTypes') ? (c.strList(f.get('eventTypes')!.value, `${what}.eventTypes`, { oneOf: EVENT_TYPES, nonEmpty: true }) as NotificationSpec['eventTypes'] | undefined) : undefined;
    // A resourceType names whose events the entry takes: each event must be of that resource.
    if (eventTypes !== undefined && (resourceType === 'PIPELINE_RUN' || resourceType === 'TRIGGER_RUN')) {
      const items = (f.get('eventTypes')!.value as { items: Node[] }).items;
      eventTypes.forEach((e, j) => {
        const isTrigger = TRIGGER_EVENT_TYPES.includes(e);
        if (resourceType === 'PIPELINE_RUN' && isTrigger) c.on(items[j] ?? null, `${what}.eventTypes[${j}] ${e} is a trigger event: resourceType PIPELINE_RUN takes EVENT_TYPE_PIPELINE_RUN_STATE_* events (use resourceType TRIGGER_RUN, or leave it out)`);
        if (resourceType === 'TRIGGER_RUN' && !isTrigger) c.on(items[j] ?? null, `${what}.eventTypes[${j}] ${e} is a pipeline-run event: resourceType TRIGGER_RUN takes ${TRIGGER_EVENT_TYPES.join(', ')} (use resourceType PIPELINE_RUN, or leave it out)`);
      });
    }
    const emails = f.has('emails') ? c.strList(f.get('emails')!.value, `${what}.emails`) : undefined;
    emails?.forEach((e, j) => {
      if (!/^[^@\s]+@[^@\s]+$/.test(e)) c.on((f.get('emails')!.value as { items: Node[] }).items[j] ?? null, `${what}.emails[${j}] ${JSON.stringify(e)} is not an email address`);
    });
    const slack = f.has('slackDestinations') ? c.strList(f.get('slackDestinations')!.value, `${what}.slackDestinations`) : undefined;
    const url = f.has('url') ? c.str(f.get('url')!.value, `${what}.url`, { pattern: /^https?:\/\/\S+$/, patternHelp: 'an http:// or https:// URL' }) : undefined;
    if (type === 'EMAIL' && !f.has('emails')) c.on(item as Node, `${what}: an EMAIL notification needs emails`);
    if (type === 'SLACK' && !f.has('slackDestinations')) c.on(item as Node, `${what}: a SLACK notification needs slackDestinations`);
    if (type === 'WEBHOOK' && !f.has('url')) c.on(item as Node, `${what}: a WEBHOOK notification needs url`);
    if (type === undefined || eventTypes === undefined) return;
    out.push({
      notificationType: type,
      ...(resourceType !== undefined ? { resourceType } : {}),
      eventTypes,
      ...(emails !== undefined ? { emails } : {}),
      ...(slack !== undefined ? { slackDestinations: slack } : {}),
      ...(url !== undefined ? { url } : {}),
    });
  });
  return out;
}

/**
 * Parses and validates a notifications file (`larkflow pipeline notifications NAME --set -f FILE`):
 * the list of `spec.notifications` entries, either as the document itself or under a top-level
 * `notifications:` key (so a pipeline.yaml's `spec.notifications` block can be copied as it is).
 * @throws PipelineSpecError with every problem found, with positions
 */
export function parseNotifications(text: string, file: string): NotificationSpec[] {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  const c = new Checker(file, text, counter);
  for (const e of doc.errors) c.at(e.pos[0], `YAML syntax error: ${e.message.split('\n')[0]}`);
  if (c.problems.length > 0) throw new PipelineSpecError(c.problems);
  let root = doc.contents as Node | null;
  if (isMap(root)) {
    const f = c.fields(root, 'the notifications file', ['notifications'], ['notifications']);
    root = f?.get('notifications')?.value ?? null;
    if (!f || !f.has('notifications')) throw new PipelineSpecError(c.problems);
  } else if (!isSeq(root)) {
    c.on(root, `the notifications file must be a list of notifications (as spec.notifications of a pipeline.yaml), or a mapping with notifications:, not ${c.typeOf(root)}`);
    throw new PipelineSpecError(c.problems);
  }
  const out = checkNotifications(c, root);
  if (c.problems.length > 0) throw new PipelineSpecError(c.problems);
  return out;
}

/**
 * Reads and validates a notifications file.
 * @throws PipelineSpecError for bad content; an Error with a clear message for an unreadable file
 */
export function loadNotifications(path: string): NotificationSpec[] {
  let text: string;
  try {
    text = readFileSync(resolve(process.cwd(), path), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `cannot read notifications file ${path}: no such file` : code === 'EISDIR' ? `cannot read notifications file ${path}: it is a directory` : `cannot read notifications file ${path}: ${(e as Error).message}`);
  }
  return parseNotifications(text, path);
}

function checkStandardConfig(c: Checker, node: Node | null, standard: StandardPipelineName | undefined): StandardConfig | undefined {
  const f = c.fields(node, 'spec.config', ['tasks', 'params'], ['tasks']);
  if (!f) return undefined;
  const tasks: Record<string, StandardTaskConfig> = {};
  const tn = f.get('tasks');
  const known = standard ? [...STANDARD_TASKS[standard].required, ...STANDARD_TASKS[standard].optional] : undefined;
  if (tn && known && isMap(tn.value)) {
    const given = tn.value.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
    for (const r of STANDARD_TASKS[standard!].required) {
      if (!given.includes(r)) c.on(tn.value, `spec.config.tasks is missing the task ${r} of the standard ${standard} pipeline (expected ${STANDARD_TASKS[standard!].required.join(', ')}${STANDARD_TASKS[standard!].optional.length ? `, optionally ${STANDARD_TASKS[standard!].optional.join(', ')}` : ''})`);
    }
  }
  if (tn) {
    if (!isMap(tn.value)) c.on(tn.value, `spec.config.tasks must be a mapping of task names to {command, ...}, not ${c.typeOf(tn.value)}`);
    else {
      for (const pair of tn.value.items) {
        const k = pair.key as Node | null;
        const name = isScalar(k) ? String(k.value) : '?';
        if (known && !known.includes(name)) {
          const dym = didYouMean(name, known);
          c.on(k, `the standard ${standard} pipeline has no task ${JSON.stringify(name)}${dym ? ` (did you mean ${JSON.stringify(dym)}?)` : ''} (expected ${known.join(', ')})`);
          continue;
        }
        if (!IDENT_RE.test(name)) {
          c.on(k, `spec.config.tasks: bad task name ${JSON.stringify(name)} (expected an identifier such as load_data)`);
          continue;
        }
        const what = `spec.config.tasks.${name}`;
        const g = c.fields(pair.value as Node | null, what, ['command', 'image', 'retries', 'timeout', 'cache'], ['command'], k?.range?.[0] ?? 0);
        if (!g) continue;
        const command = g.has('command') ? c.strList(g.get('command')!.value, `${what}.command`, { nonEmpty: true }) : undefined;
        const t: { -readonly [K in keyof StandardTaskConfig]: StandardTaskConfig[K] } = { command: command ?? [] };
        if (g.has('image')) t.image = c.str(g.get('image')!.value, `${what}.image`, { pattern: /^\S+$/, patternHelp: 'an image reference without spaces' });
        if (g.has('retries')) t.retries = c.int(g.get('retries')!.value, `${what}.retries`, 0);
        if (g.has('timeout')) t.timeout = c.str(g.get('timeout')!.value, `${what}.timeout`, { pattern: DURATION_RE, patternHelp: 'a duration such as "30s", "10m" or "1h30m"' });
        if (g.has('cache')) t.cache = c.bool(g.get('cache')!.value, `${what}.cache`);
        for (const key of Object.keys(t) as (keyof StandardTaskConfig)[]) if (t[key] === undefined) delete t[key];
        tasks[name] = t;
      }
    }
  }
  let params: Record<string, unknown> = {};
  const pn = f.get('params');
  if (pn) {
    if (!isMap(pn.value)) c.on(pn.value, `spec.config.params must be a mapping of parameter names to values, not ${c.typeOf(pn.value)}`);
    else {
      for (const p of pn.value.items) {
        const k = p.key as Node | null;
        if (!isScalar(k) || typeof k.value !== 'string' || !IDENT_RE.test(k.value)) c.on(k, `spec.config.params: bad parameter name ${isScalar(k) ? JSON.stringify(k.value) : c.typeOf(k)} (expected an identifier)`);
      }
      params = (c.json(pn.value, 'spec.config.params') as Record<string, unknown> | undefined) ?? {};
    }
  }
  return { tasks, params };
}

/**
 * Reads and validates a pipeline.yaml file.
 * @throws PipelineSpecError for a bad spec; an Error with a clear message for an unreadable file
 */
export function loadPipelineSpec(path: string): LoadedPipelineSpec {
  const file = resolve(process.cwd(), path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `cannot read pipeline spec ${path}: no such file` : code === 'EISDIR' ? `cannot read pipeline spec ${path}: it is a directory` : `cannot read pipeline spec ${path}: ${(e as Error).message}`);
  }
  return { spec: parsePipelineSpec(text, path), file, dir: dirname(file), text };
}
