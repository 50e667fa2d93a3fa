/**
 * Routing by `location` with the history API. Every route is relative to the document's base URL
 * (the `<base href>` the server injects), so the app works when mounted under any path prefix.
 */
import { useEffect, useState } from 'preact/hooks';

/** The path of the base URL, always ending in "/". */
export function basePath(): string {
  const p = new URL(document.baseURI).pathname;
  return p.endsWith('/') ? p : p.slice(0, p.lastIndexOf('/') + 1);
}

/** The app's href for a route such as "runs/abc?tab=1" (no leading slash). */
export function href(route: string): string {
  return basePath() + route.replace(/^\/+/, '');
}

export interface Route {
  /** The path below the base, without a leading slash: "", "runs/abc", "runs/abc/history". */
  readonly path: string;
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

function currentRoute(): Route {
  const base = basePath();
  let path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : location.pathname.replace(/^\/+/, '');
  path = path.replace(/\/+$/, '');
  return { path, segments: path ? path.split('/').map(decodeURIComponent) : [], query: new URLSearchParams(location.search) };
}

const NAV = 'larkflow:navigate';

/** Goes to a route (pushState, or replaceState with `replace`), without a reload. */
export function navigate(route: string, options: { replace?: boolean } = {}): void {
  const url = href(route);
  if (url === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event(NAV));
  if (!options.replace) window.scrollTo(0, 0);
}

/** Sets query parameters of the current route (an empty or undefined value removes one). */
export function setQuery(changes: Record<string, string | undefined>, options: { replace?: boolean } = { replace: true }): void {
  const r = currentRoute();
  const q = new URLSearchParams(r.query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(r.path + (s ? `?${s}` : ''), options);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = (): void => setRoute(currentRoute());
    window.addEventListener('popstate', update);
    window.addEventListener(NAV, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(NAV, update);
    };
  }, []);
  return route;
}

/**
 * Follows clicks on in-app links without a reload: plain left clicks on `<a>` elements whose href
 * stays below the base path (not downloads, not new tabs, not API URLs).
 */
export function interceptLinks(): void {
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = (ev.target as Element | null)?.closest?.('a');
    if (!a || a.hasAttribute('download') || (a.target && a.target !== '_self') || a.dataset['external'] !== undefined) return;
    const url = new URL(a.href, document.baseURI);
    const base = basePath();
    if (url.origin !== location.origin || !url.pathname.startsWith(base)) return;
    const route = url.pathname.slice(base.length);
    if (route.startsWith('api/') || route.startsWith('assets/')) return;
    ev.preventDefault();
    navigate(route + url.search);
  });
}
