/** The subprocess executor adapter: the durable executor contract on the local machine. */
export {
  SubprocessAdapter,
  SUPERVISOR_SOURCE,
  type SubprocessAdapterOptions,
  type SubprocessJobRecord,
  type SubprocessExitRecord,
} from './subprocess-adapter.js';
