/** Entry point of the run inspector's browser app. */
import { render } from 'preact';
import { App } from './app';
import { takeTokenFromHash } from './api';
import { interceptLinks } from './router';
import { applyTheme, storedTheme } from './theme';
import './styles.css';

applyTheme(storedTheme());
takeTokenFromHash();
interceptLinks();
render(<App />, document.getElementById('app')!);
