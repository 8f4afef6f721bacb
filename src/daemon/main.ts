/**
 * kukeond's entry point: flags (each with an environment twin, see src/settings.ts), then serve until SIGTERM or
 * SIGINT.
 */
import { Command } from 'commander';
import { resolveSettings, type SettingFlags } from '../settings.js';
import { VERSION } from '../version.js';
import { guardProcess, serve } from './serve.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

async function main(): Promise<void> {
  const program = new Command('kukeond')
    .description('the kukeon daemon: serves the kukeon API on a unix socket')
    .version(`v${VERSION}`)
    .option('--run-path <dir>', 'persistent run path (default /opt/kukeon)')
    .option('--socket <path>', 'API socket (default /run/kukeon/kukeond.sock)')
    .option('--socket-group <group>', 'group allowed on the socket (default kukeon)')
    .option('--containerd-socket <path>', "containerd's socket (default /run/containerd/containerd.sock)")
    .option('--runc-root <dir>', "runc's state root for kukeon's tasks (default runc's own)")
    .option('--cgroup-root <path>', 'cgroup root (default /kukeon)')
    .option('--namespace-suffix <suffix>', 'suffix of realm namespaces (default kukeon.io)')
    .option('--cni-bin-dir <dir>', 'directory of CNI plugins (repeatable)', collect)
    .option('--pod-subnet <cidr>', 'parent CIDR of the spaces (default 10.88.0.0/16)')
    .option('--no-ip-masq', 'do not masquerade cell traffic (no iptables needed)')
    .option('--log-level <level>', 'log level (default info)')
    .option('--log-max-size <size>', "rotate a container's log at this size: bytes or k/m/g (default 10m)")
    .option('--log-max-file <n>', 'log files kept per container, the live one included (default 3)')
    .parse(process.argv);
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
