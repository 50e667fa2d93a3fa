/**
 * The standard library: the universe (predeclared builtins), the methods of the built-in types, and
 * the loadable modules json, math, time and the test harness's assert, with struct and module. Importing
 * this module registers the methods of the built-in types with the interpreter's method tables.
 */
import './methods/index.js';

export { universe } from './universe.js';
export { json, toJSON, fromJSON, encodeJSON, decodeJSON } from './json.js';
export { math } from './math.js';
export { time, Duration as TimeDuration, Time, TIME_NOW_LOCAL, type TimeNowFn } from './time.js';
export { struct, moduleBuiltin, Struct } from './struct.js';
export { makeAssertModule, freezeBuiltin } from './assert.js';
