/** Types of the fake kube-apiserver in kubernetes.mjs (see that file for the behaviour). */

export declare const DEFAULT_TOKEN: string;

/** What an image "contains". */
export interface ImageSpec {
  /** Working directory of the processes. @default the fake's cwd */
  cwd?: string;
  /** Environment defaults (the container's env wins). */
  env?: Record<string, string>;
  /** Entrypoint when the container has no command. */
  command?: string[];
  /** Files of the image: path in the image → path on this machine (a SparkApplication's mainApplicationFile). */
  files?: Record<string, string>;
}

export interface FakeKubernetesOptions {
  token?: string;
  /** Known images; when given, any other image never pulls (ErrImagePull, pod Pending). */
  images?: Record<string, ImageSpec>;
  podDelayMs?: number;
  startDelayMs?: number;
  conditionLagMs?: number;
  killGraceMs?: number;
  port?: number;
  maxLogBytes?: number;
  /** Time a RayJob's RayCluster takes to become ready. @default 10 */
  clusterStartMs?: number;
  /** Time before the operators act on a new RayJob/SparkApplication. @default 5 */
  operatorLagMs?: number;
  /** jobDeploymentStatus of a RayJob whose Ray job FAILED: 'Failed' + reason AppFailed (KubeRay ≥ 1.3) or 'Complete' (older). @default 'Failed' */
  rayFailedStatus?: 'Failed' | 'Complete';
  /** The Python a SparkApplication's driver runs. @default "python3" */
  python?: string;
}

export interface JournalEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  warning?: string;
  time: number;
}

export interface FakeProcess {
  pid: number;
  namespace: string;
  job: string;
  pod: string;
  exited: boolean;
  orphan: boolean;
}

export interface HookMatch {
  /** A substring of, or a RegExp over, the request path. */
  path?: string | RegExp;
  method?: string;
}

/** A Kubernetes object as the fake stores it (plain JSON). */
export interface FakeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

export declare class FakeKubernetes {
  constructor(opts?: FakeKubernetesOptions);
  readonly journal: JournalEntry[];
  readonly token: string;
  port: number;
  readonly url: string;
  start(): Promise<{ url: string; port: number; kubeConfigYaml: string }>;
  kubeConfigYaml(namespace?: string): string;
  kubeConfigOptions(
    namespace?: string,
    token?: string,
  ): {
    clusters: { name: string; server: string; skipTLSVerify: boolean }[];
    users: { name: string; token?: string }[];
    contexts: { name: string; cluster: string; user: string; namespace: string }[];
    currentContext: string;
  };
  stopListening(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
  failNext(n: number, status?: number, opts?: HookMatch & { retryAfterSeconds?: number }): void;
  failAfterCreate(n?: number): void;
  delayNext(ms: number, opts?: HookMatch & { n?: number }): void;
  forbid(namespace: string): void;
  allow(namespace: string): void;
  setTiming(t: { podDelayMs?: number; startDelayMs?: number; conditionLagMs?: number; killGraceMs?: number }): void;
  jobsCreated(): Record<string, number>;
  processes(): FakeProcess[];
  job(namespace: string, name: string): FakeObject | undefined;
  podsOf(namespace: string, jobName: string): FakeObject[];
  forget(namespace: string, name: string): boolean;
  recreate(namespace: string, name: string): string | undefined;

  // custom resources (ray.io/v1 rayjobs + rayclusters, sparkoperator.k8s.io/v1beta2 sparkapplications)
  setOperatorTiming(t: { clusterStartMs?: number; operatorLagMs?: number }): void;
  /** RayJobs created (201 or the ambiguous 500) per "ns/name". */
  rayJobsCreated(): Record<string, number>;
  /** SparkApplications created (201 or the ambiguous 500) per "ns/name". */
  sparkAppsCreated(): Record<string, number>;
  /** The RayClusters ("ns/cluster") each RayJob ("ns/name") brought up, in order. */
  clustersCreated(): Record<string, string[]>;
  /** The RayClusters ("ns/cluster") that exist now. */
  clustersAlive(): string[];
  rayJob(namespace: string, name: string): FakeObject | undefined;
  rayCluster(namespace: string, name: string): FakeObject | undefined;
  sparkApplication(namespace: string, name: string): FakeObject | undefined;
  /** Pods (copies) whose labels match a selector ("k=v,k2=v2"). */
  podsWith(namespace: string, selector: string): FakeObject[];
  /** The RayJob disappears with its cluster and submitter Job: 404 afterwards. */
  forgetRayJob(namespace: string, name: string): boolean;
  /** The SparkApplication disappears with its pods: 404 afterwards. */
  forgetSparkApplication(namespace: string, name: string): boolean;
}

export declare function startFakeKubernetes(opts?: FakeKubernetesOptions): Promise<FakeKubernetes>;
