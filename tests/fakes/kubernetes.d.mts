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
}

export declare function startFakeKubernetes(opts?: FakeKubernetesOptions): Promise<FakeKubernetes>;
