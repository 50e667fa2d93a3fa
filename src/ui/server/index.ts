/**
 * The run inspector's server: `createUiHandler` (a node:http handler to mount anywhere) and
 * `startUiServer` (the handler on its own server, as `larkflow ui` runs it). The JSON shapes are in
 * ../api-types.ts.
 */
export { createUiHandler, type UiHandler, type UiHandlerOptions } from './handler.js';
export { startUiServer, isLoopback, type UiServer, type UiServerOptions } from './serve.js';
export { defaultStaticDir } from './static.js';
