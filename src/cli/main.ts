/**
 * kuke's entry point: builds the command tree with the real client factories and exits with its status.
 */
import { GrpcClient } from '../api/grpc-client.js';
import { processStreams } from './output.js';
import { runKuke } from './program.js';

const status = await runKuke(process.argv.slice(2), processStreams, {
  daemon: async (settings) => new GrpcClient({ socket: settings.socket }),
  // The engine, the event log and the runtime adapters load only when kuke works in-process: `kuke get` through
  // the daemon stays a small program.
  inProcess: async (settings, logger) => {
    const [{ InProcessClient }, { createRuntime }] = await Promise.all([import('../api/in-process.js'), import('../runtime/index.js')]);
    return new InProcessClient({ config: settings.engine, runtime: () => createRuntime(settings, logger), logger });
  },
});
// Let stdout drain before exiting (a pipe may still hold output).
process.exitCode = status;
