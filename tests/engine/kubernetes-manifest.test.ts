import { describe, expect, it } from 'vitest';
import { AdapterError, attemptLabels, submissionIdOf, type LaunchSpec } from '../../src/engine/executors/contract.js';
import {
  ANNOTATIONS,
  QuantityError,
  buildJobManifest,
  jobBelongsTo,
  parseCpuQuantity,
  parseMemoryQuantity,
  validateQuantity,
} from '../../src/engine/executors/kubernetes/index.js';

const ref = { runId: 'run-0001', stepId: 'train/step:7', attempt: 2 };

function spec(over: Partial<LaunchSpec> = {}, res: LaunchSpec['resources'] = {}): LaunchSpec {
  return {
    task: 'Train Model!',
    command: ['python', '-m', 'larkflow_runner'],
    env: { LARKFLOW_INPUT_URL: 'file:///in.json', SHARED: 'from-spec' },
    resources: { image: 'ghcr.io/acme/train:1.2', ...res },
    ...over,
  };
}

describe('buildJobManifest', () => {
  it('builds one never-retried Job per attempt with labels, deadline, resources and GPU limit', () => {
    const job = buildJobManifest(
      spec({ timeoutMs: 90_500 }, {
        cpu: '500m',
        memory: '16Gi',
        gpu: 2,
        env: { SHARED: 'from-resources', EXTRA: '1' },
        nodeSelector: { pool: 'gpu' },
        serviceAccount: 'trainer',
      }),
      ref,
      { namespace: 'wf', ttlSecondsAfterFinished: 600 },
    );
    const name = submissionIdOf(ref, 'Train Model!');
    expect(job.metadata?.name).toBe(name);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(job.metadata?.namespace).toBe('wf');
    expect(job.metadata?.labels).toEqual(attemptLabels(ref, 'Train Model!'));
    expect(job.metadata?.annotations?.[ANNOTATIONS.stepId]).toBe('train/step:7');
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.spec?.activeDeadlineSeconds).toBe(91);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(600);
    const pod = job.spec?.template.spec;
    expect(job.spec?.template.metadata?.labels).toEqual(attemptLabels(ref, 'Train Model!'));
    expect(pod?.restartPolicy).toBe('Never');
    expect(pod?.nodeSelector).toEqual({ pool: 'gpu' });
    expect(pod?.serviceAccountName).toBe('trainer');
    expect(pod?.containers).toHaveLength(1);
    const c = pod?.containers[0];
    expect(c?.name).toBe('task');
    expect(c?.image).toBe('ghcr.io/acme/train:1.2');
    expect(c?.command).toEqual(['python', '-m', 'larkflow_runner']);
    expect(c?.resources).toEqual({ requests: { cpu: '500m', memory: '16Gi' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '2' } });
    // spec.env is the whole environment and wins over resources.env
    expect(c?.env).toEqual([
      { name: 'SHARED', value: 'from-spec' },
      { name: 'EXTRA', value: '1' },
      { name: 'LARKFLOW_INPUT_URL', value: 'file:///in.json' },
    ]);
    expect(jobBelongsTo(job, ref)).toBe(true);
    expect(jobBelongsTo(job, { ...ref, attempt: 3 })).toBe(false);
  });

  it('leaves out what is not asked for, and uses the resources namespace', () => {
    const job = buildJobManifest(spec({}, { namespace: 'team-a', gpu: 0 }), ref, { namespace: 'default' });
    expect(job.metadata?.namespace).toBe('team-a');
    expect(job.spec?.activeDeadlineSeconds).toBeUndefined();
    expect(job.spec?.ttlSecondsAfterFinished).toBeUndefined();
    expect(job.spec?.template.spec?.containers[0]?.resources).toBeUndefined();
  });

  it('keeps names of long task names within 63 characters', () => {
    const long = 'x'.repeat(200);
    const job = buildJobManifest(spec({ task: long }), { runId: 'r'.repeat(300), stepId: 's', attempt: 123456 }, { namespace: 'd' });
    expect(job.metadata?.name?.length).toBeLessThanOrEqual(63);
    expect(job.metadata?.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    for (const v of Object.values(job.metadata?.labels ?? {})) expect(v.length).toBeLessThanOrEqual(63);
  });

  it('refuses specs that cannot become a Job as invalid', () => {
    const cases: LaunchSpec[] = [
      { ...spec(), resources: {} },
      spec({ command: [] }),
      spec({}, { memory: '16GB' }),
      spec({}, { cpu: '-1' }),
      spec({}, { gpu: 1.5 }),
      spec({}, { namespace: 'Bad_NS' }),
      spec({ timeoutMs: 0 }),
    ];
    for (const s of cases) {
      let err: unknown;
      try {
        buildJobManifest(s, ref, { namespace: 'd' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AdapterError);
      expect((err as AdapterError).category).toBe('invalid');
    }
  });
});

describe('quantities', () => {
  it('accepts Kubernetes CPU and memory quantities', () => {
    expect(parseCpuQuantity('500m')).toBeCloseTo(0.5);
    expect(parseCpuQuantity('4')).toBe(4);
    expect(parseCpuQuantity(4)).toBe(4);
    expect(parseCpuQuantity('1.5')).toBe(1.5);
    expect(parseMemoryQuantity('16Gi')).toBe(16 * 2 ** 30);
    expect(parseMemoryQuantity('512Mi')).toBe(512 * 2 ** 20);
    expect(parseMemoryQuantity('1G')).toBe(1e9);
    expect(parseMemoryQuantity('1e3')).toBe(1000);
    expect(validateQuantity('memory', ' 16Gi ')).toBe('16Gi');
    expect(validateQuantity('cpu', 2)).toBe('2');
  });

  it('refuses "16GB" with a message that says what is accepted', () => {
    let err: unknown;
    try {
      validateQuantity('memory', '16GB');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuantityError);
    const msg = (err as Error).message;
    expect(msg).toContain('"16GB"');
    expect(msg).toContain('16Gi');
    expect(msg).toContain('16G');
    expect(msg).toMatch(/expected .*Mi/);
  });

  it('refuses negatives, zero, garbage, milli-bytes and sub-millicore CPU', () => {
    const bad: [kind: 'cpu' | 'memory', text: string | number][] = [
      ['cpu', '-1'],
      ['memory', '-512Mi'],
      ['cpu', -2],
      ['cpu', '0'],
      ['memory', 'lots'],
      ['memory', ''],
      ['memory', '16 Gi'],
      ['memory', '512m'],
      ['memory', '16gb'],
      ['memory', '16GiB'],
      ['cpu', '0.0001'],
      ['cpu', '1Gi x'],
      ['cpu', Number.NaN],
    ];
    for (const [kind, text] of bad) {
      expect(() => validateQuantity(kind, text), `${kind} ${String(text)}`).toThrow(QuantityError);
    }
    expect(() => validateQuantity('memory', '512m')).toThrow(/milli/);
  });
});
