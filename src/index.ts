/**
 * larkflow: an embeddable Starlark interpreter and a deterministic, durable workflow engine.
 *
 * This is the package's one public entry point. Importing it installs the Starlark standard
 * library (the universal builtins and the methods of the built-in types).
 *
 * @example Evaluate Starlark
 * ```ts
 * import { Thread, execFile, Source } from 'larkflow';
 * const globals = execFile(new Thread(), new Source('hello.star', 'x = [i * i for i in range(4)]'));
 * ```
 * @example Run a workflow
 * ```ts
 * import { Engine } from 'larkflow';
 * const engine = Engine.open({ db: '.larkflow/larkflow.db' });
 * engine.registerTask('train', (data) => ({ model: 'm1' }));
 * const { runId, result } = engine.start({ file: 'pipeline.star', args: ['s3://data'] });
 * console.log(await result);
 * ```
 */
import './stdlib/index.js';

// The interpreter: parsing, execution, values, errors, threads (suspension and budgets).
export * from './interpreter/index.js';
export { printFile, printExpr } from './interpreter/syntax/index.js';
export type * as ast from './interpreter/syntax/ast.js';

// The standard library modules and value conversion between JS and Starlark.
export { universe, json, math, time, struct, moduleBuiltin, Struct, toJSON, fromJSON, makeAssertModule, freezeBuiltin } from './stdlib/index.js';
export { TimeDuration, Time, TIME_NOW_LOCAL, type TimeNowFn } from './stdlib/index.js';

// Chunked Starlark test files (`larkflow test`).
export { runChunkedFile, splitChunks, formatChunkedResults, type ChunkedFileResult, type ChunkResult, type ChunkFailure, type ChunkedTestOptions } from './testing/chunked.js';

// The workflow engine.
export * from './engine/index.js';

// The run inspector (`larkflow ui`): its request handler, to mount in any node:http server (or
// express, fastify, ...), or on a server of its own; and the JSON shapes of its API.
export { createUiHandler, startUiServer, type UiHandler, type UiHandlerOptions, type UiServer, type UiServerOptions } from './ui/server/index.js';
export type * as uiApi from './ui/api-types.js';
