import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { PipelineSpecError, cronProblem, parseNotifications, parsePipelineSpec } from '../../src/pipelines/spec.js';

/** The problems of a spec text as `line:col: message`. */
function problems(text: string): string[] {
  try {
    parsePipelineSpec(text, 'p.yaml');
  } catch (e) {
    if (e instanceof PipelineSpecError) return e.problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
    throw e;
  }
  throw new Error('expected the spec to be refused');
}

const GOOD = `apiVersion: michelangelo.api/v2
kind: Pipeline
metadata: {namespace: my-project, name: iris-train, annotations: {michelangelo/uniflow-image: "ghcr.io/x:1"}}
spec:
  type: PIPELINE_TYPE_TRAIN
  manifest:
    type: PIPELINE_MANIFEST_TYPE_UNIFLOW
    filePath: workflows/iris.star
    workflow: iris_pipeline
    inputs: {seed: 7, layers: [1, 2], opts: {lr: 0.1}}
    environ: {DATASET: v2, N: 3}
    tasks: tasks.mjs
    executor: k8s
    image: ghcr.io/x:1
    cache: refresh
    triggerMap: {daily: {cronSchedule: {cron: "0 9 * * 1-5", timezone: "Europe/Berlin"}, maxConcurrency: 3, parametersMap: {a: {kw_args: {seed: 1}}}}}
  notifications:
    - {notificationType: EMAIL, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED], emails: [a@b.c]}
    - {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED], url: "https://hooks.example.com/x"}
`;

describe('pipeline.yaml', () => {
  it('parses a full Uniflow spec into typed data', () => {
    const s = parsePipelineSpec(GOOD, 'p.yaml');
    expect(s.apiVersion).toBe('michelangelo.api/v2');
    expect(s.metadata).toEqual({ name: 'iris-train', namespace: 'my-project', annotations: { 'michelangelo/uniflow-image': 'ghcr.io/x:1' }, labels: {} });
    expect(s.spec.manifest).toEqual({
      type: 'PIPELINE_MANIFEST_TYPE_UNIFLOW',
      filePath: 'workflows/iris.star',
      workflow: 'iris_pipeline',
      inputs: { seed: 7, layers: [1, 2], opts: { lr: 0.1 } },
      environ: { DATASET: 'v2', N: '3' },
      tasks: 'tasks.mjs',
      executor: 'k8s',
      image: 'ghcr.io/x:1',
      cache: 'refresh',
      triggerMap: { daily: { cronSchedule: { cron: '0 9 * * 1-5', timezone: 'Europe/Berlin' }, maxConcurrency: 3, parametersMap: { a: { kw_args: { seed: 1 } } } } },
    });
    expect(s.spec.notifications).toEqual([
      { notificationType: 'EMAIL', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED'], emails: ['a@b.c'] },
      { notificationType: 'WEBHOOK', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_FAILED'], url: 'https://hooks.example.com/x' },
    ]);
  });

  it('accepts larkflow.dev/v1 and the examples', () => {
    expect(parsePipelineSpec(GOOD.replace('michelangelo.api/v2', 'larkflow.dev/v1'), 'p.yaml').apiVersion).toBe('larkflow.dev/v1');
    for (const f of ['iris/pipeline.yaml', 'standard/train.yaml', 'standard/evaluate.yaml', 'standard/batch_predict.yaml']) {
      const path = new URL(`../../examples/pipelines/${f}`, import.meta.url);
      expect(() => parsePipelineSpec(readFileSync(path, 'utf8'), f)).not.toThrow();
    }
  });

  it('reports every problem with its line and column, in source order', () => {
    const text = `apiVersion: michelangelo.api/v3
kind: Pipeline
metadata: {namespace: my-project, nmae: iris}
spec:
  manifest:
    filePath: wf.star
    inptus: {seed: 7}
    cache: maybe
    environ: {DATASET: [1]}
    triggerMap:
      daily: {cronSchedule: {cron: "0 9 * *"}, maxConcurrency: -1}
  notifications:
    - notificationType: EMAL
      eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEDED]
`;
    expect(problems(text)).toEqual([
      '1:13: apiVersion is "michelangelo.api/v3" (did you mean michelangelo.api/v2?) (expected one of michelangelo.api/v2, larkflow.dev/v1)',
      '3:11: metadata is missing the required field name',
      '3:35: unknown field "nmae" in metadata (did you mean "name"?) (expected one of name, namespace, annotations, labels)',
      '7:5: unknown field "inptus" in spec.manifest (did you mean "inputs"?) (expected one of type, filePath, workflow, inputs, environ, tasks, executor, image, namespace, storage, cache, triggerMap)',
      '8:12: spec.manifest.cache is "maybe" (expected one of use, refresh, off)',
      '9:24: spec.manifest.environ.DATASET must be a string, not a list',
      '11:36: cron "0 9 * *" has 4 fields (expected 5: minute hour day-of-month month day-of-week)',
      '11:64: triggerMap.daily.maxConcurrency must be at least 0, not -1',
      '13:25: spec.notifications[0].notificationType is "EMAL" (did you mean EMAIL?) (expected one of EMAIL, SLACK, WEBHOOK)',
      '14:20: spec.notifications[0].eventTypes[0] is "EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEDED" (did you mean EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED?) (expected one of EVENT_TYPE_PIPELINE_RUN_STATE_STARTED, EVENT_TYPE_PIPELINE_RUN_STATE_SUCCEEDED, EVENT_TYPE_PIPELINE_RUN_STATE_FAILED, EVENT_TYPE_PIPELINE_RUN_STATE_KILLED, EVENT_TYPE_PIPELINE_RUN_STATE_SKIPPED, EVENT_TYPE_TRIGGER_RUN_STATE_STARTED, EVENT_TYPE_TRIGGER_RUN_STATE_SUCCEEDED, EVENT_TYPE_TRIGGER_RUN_STATE_FAILED, EVENT_TYPE_TRIGGER_RUN_STATE_KILLED, EVENT_TYPE_TRIGGER_TICK_SKIPPED)',
    ]);
  });

  it('renders file:line:col, the source line and a caret under the column', () => {
    let err: PipelineSpecError | undefined;
    try {
      parsePipelineSpec('apiVersion: larkflow.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec:\n  manifest: {filePath: a.star, workflow: 3}\n', 'dir/p.yaml');
    } catch (e) {
      err = e as PipelineSpecError;
    }
    expect(err).toBeInstanceOf(PipelineSpecError);
    expect(err!.render()).toBe(
      ['dir/p.yaml:5:42: spec.manifest.workflow must be a string, not the integer 3', '    manifest: {filePath: a.star, workflow: 3}', '  ' + ' '.repeat(41) + '^', '1 problem in dir/p.yaml'].join('\n'),
    );
  });

  it('requires apiVersion, kind, metadata.name and spec.manifest.filePath', () => {
    expect(problems('metadata: {}\nspec: {manifest: {inputs: {}}}\n')).toEqual([
      '1:1: the pipeline spec is missing the required field apiVersion',
      '1:1: the pipeline spec is missing the required field kind',
      '1:11: metadata is missing the required field name',
      '2:18: spec.manifest is missing the required field filePath',
    ]);
    expect(problems('apiVersion: larkflow.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec: {}\n')).toEqual([
      '4:7: spec is missing the required field manifest (with manifest.filePath), or give spec.standard for a standard pipeline',
    ]);
    expect(problems('- a\n- b\n')[0]).toMatch(/^1:1: the pipeline spec must be a mapping, not a list/);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(problems('apiVersion: larkflow.dev/v1\nkind: [Pipeline\n')[0]).toMatch(/^\d+:\d+: YAML syntax error: /);
  });

  it('checks names, types and file kinds', () => {
    const base = (manifest: string, meta = 'name: ok'): string => `apiVersion: larkflow.dev/v1\nkind: Pipeline\nmetadata: {${meta}}\nspec:\n  manifest: ${manifest}\n`;
    expect(problems(base('{filePath: a.star}', 'name: Bad_Name'))).toEqual([
      '3:18: metadata.name "Bad_Name" is malformed (expected lower-case letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 63 characters)',
    ]);
    expect(problems(base('{filePath: a.txt, tasks: t.py}'))).toEqual([
      '5:24: spec.manifest.filePath "a.txt" must name a .star or .py workflow file (relative to the yaml\'s directory)',
      '5:38: spec.manifest.tasks "t.py" must name a JS module (.mjs or .js)',
    ]);
    expect(problems(base('{filePath: a.star, inputs: {1x: 2}, environ: {"A B": c}}'))).toEqual([
      '5:41: spec.manifest.inputs: bad input name "1x" (expected a Starlark identifier)',
      '5:59: spec.manifest.environ: bad name "A B" (expected an environment variable name)',
    ]);
    expect(problems(base('{filePath: a.star, image: x:1, executor: k9s}'))).toEqual([
      '5:54: spec.manifest.executor is "k9s" (did you mean k8s?) (expected one of local, k8s, subprocess, ray, kuberay, livy, spark)',
    ]);
    expect(problems(base('{filePath: a.star, image: x:1}'))).toEqual([
      '5:32: spec.manifest.image configures remote tasks: give spec.manifest.executor too (k8s, subprocess, ray, kuberay, livy, spark)',
    ]);
    expect(problems(base('{filePath: a.star, triggerMap: {t: {cronSchedule: {cron: "* * * * *", timezone: Mars/Base}}}}'))).toEqual([
      '5:45: triggerMap.t needs maxConcurrency or batchPolicy (how the runs of one tick are started)',
      '5:93: unknown time zone "Mars/Base" (expected an IANA name such as Europe/Berlin or UTC)',
    ]);
  });

  it('checks notifications: the fields each kind needs', () => {
    const text = `apiVersion: larkflow.dev/v1
kind: Pipeline
metadata: {name: x}
spec:
  manifest: {filePath: a.star}
  notifications:
    - {notificationType: SLACK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED]}
    - {notificationType: EMAIL, eventTypes: [], emails: [nobody]}
    - {notificationType: WEBHOOK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED], url: "ftp://x"}
`;
    expect(problems(text)).toEqual([
      '7:7: spec.notifications[0]: a SLACK notification needs slackDestinations',
      '8:45: spec.notifications[1].eventTypes must not be empty',
      '8:58: spec.notifications[1].emails[0] "nobody" is not an email address',
      '9:92: spec.notifications[2].url "ftp://x" is malformed (expected an http:// or https:// URL)',
    ]);
  });

  it('takes trigger events, and refuses events of another resourceType where they are', () => {
    const text = `apiVersion: larkflow.dev/v1
kind: Pipeline
metadata: {name: x}
spec:
  manifest: {filePath: a.star}
  notifications:
    - {notificationType: WEBHOOK, url: "http://h/", eventTypes: [EVENT_TYPE_TRIGGER_RUN_STATE_STARTED, EVENT_TYPE_TRIGGER_TICK_SKIPPED]}
    - {notificationType: WEBHOOK, url: "http://h/", resourceType: PIPELINE_RUN, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED, EVENT_TYPE_TRIGGER_RUN_STATE_FAILED]}
    - {notificationType: WEBHOOK, url: "http://h/", resourceType: TRIGGER_RUN, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED]}
    - {notificationType: WEBHOOK, url: "http://h/", eventTypes: [EVENT_TYPE_TRIGGER_TICK_SKIPED]}
`;
    expect(problems(text)).toEqual([
      '8:132: spec.notifications[1].eventTypes[1] EVENT_TYPE_TRIGGER_RUN_STATE_FAILED is a trigger event: resourceType PIPELINE_RUN takes EVENT_TYPE_PIPELINE_RUN_STATE_* events (use resourceType TRIGGER_RUN, or leave it out)',
      '9:93: spec.notifications[2].eventTypes[0] EVENT_TYPE_PIPELINE_RUN_STATE_FAILED is a pipeline-run event: resourceType TRIGGER_RUN takes EVENT_TYPE_TRIGGER_RUN_STATE_STARTED, EVENT_TYPE_TRIGGER_RUN_STATE_SUCCEEDED, EVENT_TYPE_TRIGGER_RUN_STATE_FAILED, EVENT_TYPE_TRIGGER_RUN_STATE_KILLED, EVENT_TYPE_TRIGGER_TICK_SKIPPED (use resourceType PIPELINE_RUN, or leave it out)',
      expect.stringMatching(/^10:66: spec\.notifications\[3\]\.eventTypes\[0\] is "EVENT_TYPE_TRIGGER_TICK_SKIPED" \(did you mean EVENT_TYPE_TRIGGER_TICK_SKIPPED\?\)/),
    ]);
    const ok = parsePipelineSpec(text.split('\n').filter((l) => !/resourceType|SKIPED/.test(l)).join('\n'), 'p.yaml');
    expect(ok.spec.notifications[0]!.eventTypes).toEqual(['EVENT_TYPE_TRIGGER_RUN_STATE_STARTED', 'EVENT_TYPE_TRIGGER_TICK_SKIPPED']);
  });

  it('accepts the README\'s complete pipeline.yaml', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Pipelines: `pipeline.yaml`'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const s = parsePipelineSpec(yaml, 'README.md');
    expect(s.spec.manifest.triggerMap.daily).toMatchObject({ catchUp: 'latest', batchPolicy: { batchSize: 10, wait: '600s' }, cronSchedule: { timezone: 'Europe/Berlin' } });
    expect(s.spec.notifications.map((n) => n.eventTypes)).toEqual([['EVENT_TYPE_PIPELINE_RUN_STATE_FAILED'], ['EVENT_TYPE_TRIGGER_RUN_STATE_FAILED', 'EVENT_TYPE_TRIGGER_TICK_SKIPPED']]);
  });

  it('reads a notifications file: a list, or a mapping with notifications:, checked with positions', () => {
    const list = parseNotifications('- {notificationType: EMAIL, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED], emails: [a@b.c]}\n', 'n.yaml');
    expect(list).toEqual([{ notificationType: 'EMAIL', eventTypes: ['EVENT_TYPE_PIPELINE_RUN_STATE_FAILED'], emails: ['a@b.c'] }]);
    expect(parseNotifications('notifications: []\n', 'n.yaml')).toEqual([]);
    const bad = (text: string): string[] => {
      try {
        parseNotifications(text, 'n.yaml');
      } catch (e) {
        if (e instanceof PipelineSpecError) return e.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`);
        throw e;
      }
      throw new Error('expected the file to be refused');
    };
    expect(bad('notifications:\n  - {notificationType: SLAK, eventTypes: [EVENT_TYPE_PIPELINE_RUN_STATE_FAILED]}\n')).toEqual([
      'n.yaml:2:24: spec.notifications[0].notificationType is "SLAK" (did you mean SLACK?) (expected one of EMAIL, SLACK, WEBHOOK)',
    ]);
    expect(bad('notifs: []\n')).toEqual([
      'n.yaml:1:1: unknown field "notifs" in the notifications file (expected one of notifications)',
      'n.yaml:1:1: the notifications file is missing the required field notifications',
    ]);
    expect(bad('just text\n')[0]).toMatch(/^n\.yaml:1:1: the notifications file must be a list of notifications/);
    expect(bad('- [unclosed\n')[0]).toMatch(/^n\.yaml:\d+:\d+: YAML syntax error/);
  });

  it('checks a standard pipeline\'s config: known and required tasks, commands', () => {
    const text = `apiVersion: larkflow.dev/v1
kind: Pipeline
metadata: {name: x}
spec:
  standard: train
  config:
    tasks:
      load_data: {command: []}
      trian: {command: [node, t.mjs]}
      evaluate: {command: node, retries: -1, timeout: soon}
    params: {n: 3}
`;
    expect(problems(text)).toEqual([
      '8:7: spec.config.tasks is missing the task train of the standard train pipeline (expected load_data, train, optionally evaluate)',
      '8:28: spec.config.tasks.load_data.command must not be empty',
      '9:7: the standard train pipeline has no task "trian" (did you mean "train"?) (expected load_data, train, evaluate)',
      '10:27: spec.config.tasks.evaluate.command must be a list of strings, not the string "node"',
      '10:42: spec.config.tasks.evaluate.retries must be at least 0, not -1',
      '10:55: spec.config.tasks.evaluate.timeout "soon" is malformed (expected a duration such as "30s", "10m" or "1h30m")',
    ]);
    expect(problems('apiVersion: larkflow.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec:\n  standard: tran\n')).toEqual([
      '5:3: a standard pipeline needs spec.config (with config.tasks)',
      '5:13: spec.standard is "tran" (did you mean train?) (expected one of train, evaluate, batch_predict)',
    ]);
  });

  it('checks cron expressions lightly', () => {
    expect(cronProblem('0 9 * * 1-5')).toBeUndefined();
    expect(cronProblem('*/15 0-6,22 1 jan mon')).toBeUndefined();
    expect(cronProblem('@daily')).toBeUndefined();
    expect(cronProblem('0 24 * * *')).toBe('cron hour 24 is out of range (expected 0-23)');
    expect(cronProblem('0 9 * * * *')).toMatch(/has 6 fields \(expected 5/);
    expect(cronProblem('x 9 * * *')).toMatch(/minute field "x" is malformed/);
    expect(cronProblem('@sometimes')).toMatch(/unknown cron macro/);
  });
});

describe('trigger schedules in the spec', () => {
  const spec = (trigger: string): string =>
    ['apiVersion: larkflow.dev/v1', 'kind: Pipeline', 'metadata: {name: t}', 'spec:', '  manifest:', '    filePath: flow.star', '    triggerMap:', `      x: ${trigger}`, ''].join('\n');
  it('accepts an intervalSchedule and a catchUp policy', () => {
    const s = parsePipelineSpec(spec('{intervalSchedule: {interval: "15m"}, catchUp: all, maxConcurrency: 1}'), 'p.yaml');
    expect(s.spec.manifest.triggerMap.x).toEqual({ intervalSchedule: { interval: '15m' }, catchUp: 'all', maxConcurrency: 1 });
  });
  it('refuses both schedules, a bad interval and a bad catchUp, with positions', () => {
    const render = (t: string): string => {
      try {
        parsePipelineSpec(spec(t), 'p.yaml');
        return 'no error';
      } catch (e) {
        return (e as { render(): string }).render();
      }
    };
    expect(render('{cronSchedule: {cron: "0 * * * *"}, intervalSchedule: {interval: "1h"}, maxConcurrency: 1}')).toMatch(/p\.yaml:8:\d+: .*both a cronSchedule and an intervalSchedule/);
    expect(render('{intervalSchedule: {interval: "often"}, maxConcurrency: 1}')).toMatch(/p\.yaml:8:\d+: .*interval.*a duration such as/);
    expect(render('{intervalSchedule: {interval: "1h"}, catchUp: sometimes, maxConcurrency: 1}')).toMatch(/p\.yaml:8:\d+: .*catchUp must be all, latest or skip/);
  });
});
