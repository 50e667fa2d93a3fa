/** The app shell: top bar (navigation, read-only badge, theme toggle) and the page for the route. */
import { useEffect, useState } from 'preact/hooks';
import type { Meta } from '../api-types';
import { MetaContext, TOKEN_EVENT, actionsOff, useFetch } from './api';
import { Link } from './components/common';
import { CachePage, PipelinesPage, TriggersPage } from './pages/tables';
import { RunDetailPage } from './pages/run-detail';
import { RunsPage } from './pages/runs';
import { useRoute, type Route } from './router';
import { applyTheme, nextTheme, storedTheme, type ThemeChoice } from './theme';

function Page(props: { route: Route }): preact.JSX.Element {
  const [first, id, tab] = props.route.segments;
  switch (first) {
    case undefined:
    case 'runs':
      return id ? <RunDetailPage runId={id} tab={tab ?? 'steps'} query={props.route.query} /> : <RunsPage query={props.route.query} />;
    case 'pipelines':
      return <PipelinesPage />;
    case 'triggers':
      return <TriggersPage />;
    case 'cache':
      return <CachePage />;
    default:
      return (
        <section class="page">
          <h1>Page not found</h1>
          <p>
            <Link to="">Back to the runs</Link>
          </p>
        </section>
      );
  }
}

export function App(): preact.JSX.Element {
  const route = useRoute();
  const meta = useFetch<Meta>('api/meta');
  const [theme, setTheme] = useState<ThemeChoice>(storedTheme);
  const [, setTokenTick] = useState(0);
  useEffect(() => {
    const bump = (): void => setTokenTick((n) => n + 1);
    window.addEventListener(TOKEN_EVENT, bump);
    return () => window.removeEventListener(TOKEN_EVENT, bump);
  }, []);
  const off = actionsOff(meta.data);
  const first = route.segments[0] ?? 'runs';
  const nav = (to: string, label: string, key: string): preact.JSX.Element => (
    <Link to={to} class={first === key ? 'active' : undefined}>
      {label}
    </Link>
  );
  return (
    <MetaContext.Provider value={meta.data}>
      <header class="topbar">
        <Link to="" class="brand">
          <span class="brand-mark" aria-hidden="true" />
          larkflow
        </Link>
        <nav class="mainnav" aria-label="Main">
          {nav('', 'Runs', 'runs')}
          {nav('pipelines', 'Pipelines', 'pipelines')}
          {nav('triggers', 'Triggers', 'triggers')}
          {nav('cache', 'Cache', 'cache')}
        </nav>
        <span class="spacer" />
        {meta.data ? (
          <span class={off ? 'mode mode-ro' : 'mode mode-rw'} title={off ?? 'Actions are allowed'} data-readonly={String(off !== undefined)}>
            {!off ? (meta.data.readOnly ? 'actions on (token)' : 'actions on') : meta.data.tokenAccepted ? 'token needed' : 'read-only'}
          </span>
        ) : null}
        {meta.data ? (
          <span class="muted small db" title={meta.data.db}>
            {meta.data.db}
          </span>
        ) : null}
        <button
          type="button"
          class="ghost theme-toggle"
          data-theme-choice={theme}
          title={`Theme: ${theme} (click to change)`}
          onClick={() => {
            const t = nextTheme(theme);
            applyTheme(t);
            setTheme(t);
          }}
        >
          {theme === 'auto' ? '◐ auto' : theme === 'light' ? '☀ light' : '☾ dark'}
        </button>
      </header>
      <main>
        <Page route={route} />
      </main>
    </MetaContext.Provider>
  );
}
