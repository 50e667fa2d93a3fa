/** The app shell: top bar (navigation, read-only badge, theme toggle) and the page for the route. */
import { useState } from 'preact/hooks';
import type { Meta } from '../api-types';
import { MetaContext, useFetch } from './api';
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
          <span class={meta.data.readOnly ? 'mode mode-ro' : 'mode mode-rw'} title={meta.data.readOnly ? 'Actions are off: start larkflow ui with --allow-actions' : 'Actions are allowed'} data-readonly={String(meta.data.readOnly)}>
            {meta.data.readOnly ? 'read-only' : 'actions on'}
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
