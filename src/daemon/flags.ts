/**
 * kukeond's command line: its flags (each with an environment twin, see src/settings.ts). Kept apart from main.ts so
 * tests can read the flag set without starting a daemon.
 */
import { Command } from 'commander';
import { DEFAULT_POD_SUBNET } from '../engine/config.js';
import { VERSION } from '../version.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** kukeond's program: flags only, no subcommands. */
export function daemonProgram(): Command {
  return new Command('kukeond')
    .description('the kukeon daemon: serves the kukeon API on a unix socket')
    .version(`v${VERSION}`)
    .option('--run-path <dir>', 'persistent run path (default /opt/kukeon)')
    .option('--socket <path>', 'API socket (default /run/kukeon/kukeond.sock)')
    .option('--socket-group <group>', 'group allowed on the socket, whose members are operators (default kukeon)')
    .option('--admin-group <group>', 'group whose members may do everything, root-equivalent (default kukeon-admin)')
    .option('--view-group <group>', 'group whose members may only read (default kukeon-view)')
    .option('--allow-bind-path <dir>', 'host directory operators may bind-mount (repeatable; default none)', collect)
    .option('--containerd-socket <path>', "containerd's socket (default /run/containerd/containerd.sock)")
    .option('--runc-root <dir>', "runc's state root for kukeon's tasks (default runc's own)")
    .option('--cgroup-root <path>', 'cgroup root (default /kukeon)')
    .option('--namespace-suffix <suffix>', 'suffix of realm namespaces (default kukeon.io)')
    .option('--cni-bin-dir <dir>', 'directory of CNI plugins (repeatable)', collect)
    .option('--pod-subnet <cidr>', `parent CIDR of the spaces' /24s (default ${DEFAULT_POD_SUBNET})`)
    .option('--no-ip-masq', 'do not masquerade cell traffic (no iptables needed)')
    .option('--log-level <level>', 'log level (default info)')
    .option('--log-max-size <size>', "rotate a container's log at this size: bytes or k/m/g (default 10m)")
    .option('--log-max-file <n>', 'log files kept per container, the live one included (default 3)');
}
