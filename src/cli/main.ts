/**
 * kuke's entry point: builds the command tree with the real client factories and exits with its status.
 */
import { GrpcClient } from '../api/grpc-client.js';
import { InProcessClient } from '../api/in-process.js';
import { createRuntime } from '../runtime/index.js';
import { processStreams } from './output.js';
import { runKuke } from './program.js';

const status = await runKuke(process.argv.slice(2), processStreams, {
  daemon: async (settings) => new GrpcClient({ socket: settings.socket }),
  inProcess: async (settings, logger) => new InProcessClient({ config: settings.engine, runtime: () => createRuntime(settings, logger), logger }),
});
// Let stdout drain before exiting (a pipe may still hold output).
process.exitCode = status;
