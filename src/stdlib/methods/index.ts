/**
 * This file registers the methods of the built-in types (string, bytes, list, dict, set) with the
 * interpreter's method tables. Importing it has that side effect only; the universe and the
 * embedding API import it once so that `x.append(...)`, `dir(x)` and friends find their methods.
 */
import './string.js';
import './bytes.js';
import './list.js';
import './dict.js';
import './set.js';
