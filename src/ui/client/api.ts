/**
 * Talking to the server: JSON GETs and POSTs under the base URL (every path here is relative, so a
 * mounted handler works), a `useFetch` hook, and `useEventStream`, the page's one EventSource.
 *
 * Live state stays consistent across dropped streams: the browser reconnects by itself and sends
 * `Last-Event-ID`, the server replays what was missed, and consumers drop any event whose seq they
 * have seen already (`SeqGate`).
 */
import { createContext } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError, Meta } from '../api-types';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

const TOKEN_KEY = 'larkflow.token';

/** A token given as `#token=...` in the URL is kept for this tab and removed from the address bar. */
export function takeTokenFromHash(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]!));
  history.replaceState(null, '', location.pathname + location.search);
}

export function hasToken(): boolean {
  try {
    return !!sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return false;
  }
}

export const TOKEN_EVENT = 'larkflow:token';

/** Keeps the token for this tab; the app re-renders (actions turn on). */
export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  window.dispatchEvent(new Event(TOKEN_EVENT));
}

/** Why the page's actions are off (undefined: they are on): a read-only server, unless it takes a token and the tab has one. */
export function actionsOff(meta: Meta | undefined): string | undefined {
  if (!meta) return 'Loading…';
  if (!meta.readOnly) return undefined;
  if (meta.tokenAccepted) return hasToken() ? undefined : 'Actions need the server\'s token (larkflow ui --token): enter it below.';
  return 'The server is read-only: start it with `larkflow ui --allow-actions` (or use the CLI command).';
}

async function failure(res: Response): Promise<ApiFailure> {
  let body: Partial<ApiError> = {};
  try {
    body = (await res.json()) as ApiError;
  } catch {
    /* not JSON */
  }
  return new ApiFailure(res.status, body.error ?? `${res.status} ${res.statusText}`, body.hint);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/** "api/runs" + { status: 'a', q: undefined } → "api/runs?status=a". */
export function withQuery(path: string, params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export interface Fetched<T> {
  readonly data: T | undefined;
  readonly error: ApiFailure | Error | undefined;
  readonly loading: boolean;
  /** Fetches again, keeping the current data on screen until the answer arrives. */
  readonly reload: () => void;
}

/** GETs `path` (null: nothing) whenever it or `version` changes; older answers are dropped. */
export function useFetch<T>(path: string | null, version = 0): Fetched<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; path: string | null }>({ loading: path !== null, path });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, ...(s.path !== path ? { data: undefined, error: undefined, path } : {}) }));
    getJson<T>(path, ctl.signal).then(
      (data) => setState({ data, loading: false, path }),
      (error: Error) => {
        if (!ctl.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [path, version, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const same = state.path === path;
  return { data: same ? state.data : undefined, error: same ? state.error : undefined, loading: state.loading || !same, reload };
}

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** Remembers the highest seq handled, so replays after a reconnect never apply an event twice. */
export class SeqGate {
  private last: number;
  constructor(after = 0) {
    this.last = after;
  }
  get seq(): number {
    return this.last;
  }
  /** True (and remembers it) when `seq` is new. */
  admit(seq: number): boolean {
    if (!(seq > this.last)) return false;
    this.last = seq;
    return true;
  }
}

/**
 * The page's one EventSource on `path` (null: none). `handlers` maps event names to callbacks;
 * they may change between renders without reconnecting. `onOpen(reconnected)` runs on every open
 * (true after the first: the page may refetch what a replay does not cover). The stream is closed on `pagehide` and
 * opened again on `pageshow`, so a page in the back/forward cache holds no connection.
 */
export function useEventStream(path: string | null, handlers: Record<string, (data: unknown, ev: MessageEvent) => void>, onOpen?: (reconnected: boolean) => void): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const ref = useRef({ handlers, onOpen });
  ref.current = { handlers, onOpen };
  const names = Object.keys(handlers).sort().join(',');
  useEffect(() => {
    if (path === null) return;
    let es: EventSource | undefined;
    let opened = false;
    const open = (): void => {
      if (es) return;
      const src = new EventSource(path);
      es = src;
      setStatus(opened ? 'reconnecting' : 'connecting');
      src.onopen = () => {
        setStatus('live');
        ref.current.onOpen?.(opened);
        opened = true;
      };
      src.onerror = () => setStatus(src.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
      for (const name of names.split(',')) {
        if (!name) continue;
        src.addEventListener(name, (ev) => {
          const m = ev as MessageEvent<string>;
          let data: unknown;
          try {
            data = JSON.parse(m.data);
          } catch {
            return;
          }
          ref.current.handlers[name]?.(data, m);
        });
      }
    };
    const close = (): void => {
      es?.close();
      es = undefined;
      setStatus('closed');
    };
    const onShow = (e: PageTransitionEvent): void => {
      if (e.persisted) open();
    };
    open();
    window.addEventListener('pagehide', close);
    window.addEventListener('pageshow', onShow);
    return () => {
      window.removeEventListener('pagehide', close);
      window.removeEventListener('pageshow', onShow);
      close();
    };
  }, [path, names]);
  return status;
}

/** Calls `fn` at most once per `ms`, always with a trailing call after the last request. */
export function useThrottle(fn: () => void, ms: number): () => void {
  const ref = useRef({ fn, timer: 0 as number | 0, last: 0 });
  ref.current.fn = fn;
  useEffect(() => () => clearTimeout(ref.current.timer), []);
  return useCallback(() => {
    const r = ref.current;
    if (r.timer) return;
    const wait = Math.max(0, r.last + ms - Date.now());
    r.timer = window.setTimeout(() => {
      r.timer = 0;
      r.last = Date.now();
      r.fn();
    }, wait);
  }, [ms]);
}

/** Re-renders every `ms` while `on`, for live durations. */
export function useNow(on: boolean, ms = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [on, ms]);
  return now;
}

export const MetaContext = createContext<Meta | undefined>(undefined);
