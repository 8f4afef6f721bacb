/**
 * kukeond's entry point: flags (flags.ts), then serve until SIGTERM or SIGINT.
 */
import { resolveSettings, type SettingFlags } from '../settings.js';
import { daemonProgram } from './flags.js';
import { guardProcess, serve } from './serve.js';

async function main(): Promise<void> {
  const program = daemonProgram().parse(process.argv);
  const flags = program.opts<SettingFlags & { ipMasq?: boolean }>();
  // commander defaults a --no-x flag to true; only an explicit --no-ip-masq may override the environment.
  if (flags.ipMasq === true) delete flags.ipMasq;
  let daemon;
  try {
    daemon = await serve({ settings: resolveSettings(flags) });
  } catch (err) {
    process.stderr.write(`kukeond: ${(err as Error).message}${(err as { hint?: string }).hint ? `; ${(err as { hint?: string }).hint}` : ''}\n`);
    process.exit(1);
  }
  guardProcess(daemon.logger);
  const onSignal = (signal: NodeJS.Signals) => {
    void daemon.stop(signal).then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await daemon.stopped;
}

void main();
