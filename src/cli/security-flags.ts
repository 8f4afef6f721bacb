/**
 * The security flags of a container (issue 11), spelled as in Docker and Podman, for `kuke create cell` (and `kuke
 * run`): `-u/--user`, `--cap-add`, `--cap-drop`, `--read-only`, `--tmpfs`, `--security-opt`, `--sysctl`. Parsed
 * into template fields before anything is sent, so a bad value is refused with one line and nothing changes.
 *
 * @example
 * withSecurityFlags(program.command('create'));
 * const fields = securityFields(options, { hostNetwork: false }); // { user: '1000', capabilities: {...}, mounts: [...] }
 */
import type { Command } from 'commander';
import type { ContainerTemplate, Mount } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { capabilityProblem, normalizeCapabilities, seccompProfileProblem, sysctlProblem, sysctlValueProblem, userProblem } from '../model/security.js';

/** The options commander collects for these flags. */
export interface SecurityOptions {
  user?: string;
  capAdd?: string[];
  capDrop?: string[];
  readOnly?: boolean;
  tmpfs?: string[];
  securityOpt?: string[];
  sysctl?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Declares the flags on `command` (described for a cell's container). */
export function withSecurityFlags(command: Command): Command {
  return command
    .option('-u, --user <user>', "cell: user of its container, uid[:gid] or name[:group] from the image's /etc/passwd")
    .option('--cap-add <capability>', "cell: add a capability to Docker's default set, e.g. NET_ADMIN, or ALL (repeatable)", collect)
    .option('--cap-drop <capability>', 'cell: drop a capability from the default set, or ALL (repeatable)', collect)
    .option('--read-only', 'cell: mount its root filesystem read-only')
    .option('--tmpfs <path[:options]>', 'cell: mount a writable tmpfs, e.g. /tmp:size=64m (repeatable)', collect)
    .option('--security-opt <option>', "cell: seccomp=default|unconfined|<profile.json on the daemon's host>, no-new-privileges[=true|false] (repeatable)", collect)
    .option('--sysctl <key=value>', 'cell: set a namespaced sysctl, e.g. net.ipv4.ip_forward=1 (repeatable)', collect);
}

function refuse(message: string, hint: string): never {
  throw new KukeError(ErrorKind.InvalidArgument, message, { hint });
}

/** Docker's `--tmpfs /path[:opt,opt]`: `ro` makes it read-only, and it is noexec unless `exec` is given. */
export function parseTmpfs(value: string): Mount {
  const colon = value.indexOf(':');
  const target = colon < 0 ? value : value.slice(0, colon);
  const opts = colon < 0 ? [] : value.slice(colon + 1).split(',').filter(Boolean);
  if (!target.startsWith('/') || target.includes('\0')) refuse(`invalid --tmpfs ${JSON.stringify(value)}: the path must be absolute`, 'use --tmpfs /path[:options], e.g. --tmpfs /tmp:size=64m');
  const options = opts.filter((o) => o !== 'ro' && o !== 'rw');
  if (!options.includes('exec') && !options.includes('noexec')) options.push('noexec');
  return { type: 'tmpfs', target, ...(opts.includes('ro') ? { readOnly: true } : {}), options };
}

/** The `--security-opt` values kukeon knows. */
function securityOpt(value: string): { noNewPrivileges?: boolean; seccompProfile?: string } {
  // Docker takes `key=value` and, for older spellings, `key:value`.
  const [, key, arg] = /^([^=:]*)(?:[=:](.*))?$/s.exec(value)!;
  if (key === 'no-new-privileges') {
    if (arg === undefined || arg === 'true') return { noNewPrivileges: true };
    if (arg === 'false') return { noNewPrivileges: false };
    refuse(`invalid --security-opt ${JSON.stringify(value)}: no-new-privileges takes true or false`, 'use --security-opt no-new-privileges=false to let setuid binaries raise privileges');
  }
  if (key === 'seccomp') {
    const problem = seccompProfileProblem(arg ?? '');
    if (problem) refuse(`invalid --security-opt ${JSON.stringify(value)}: ${problem}`, 'e.g. --security-opt seccomp=unconfined');
    return { seccompProfile: arg! };
  }
  return refuse(`unknown --security-opt ${JSON.stringify(value)}`, 'kukeon knows seccomp=default|unconfined|<profile.json> and no-new-privileges[=true|false]');
}

/**
 * The template fields the flags ask for (only those given), and the tmpfs mounts to add. Throws InvalidArgument
 * (one line, the flag and what to do) for a bad value.
 */
export function securityFields(o: SecurityOptions, container: { hostNetwork: boolean }): { fields: Partial<ContainerTemplate>; mounts: Mount[] } {
  if (o.user !== undefined) {
    const problem = userProblem(o.user);
    if (problem) refuse(`invalid --user: ${problem}`, 'e.g. --user 1000:1000 or --user www-data');
  }
  for (const [flag, names] of [['--cap-add', o.capAdd ?? []], ['--cap-drop', o.capDrop ?? []]] as const) {
    for (const name of names) {
      const problem = capabilityProblem(name);
      if (problem) refuse(`invalid ${flag}: ${problem}`, 'see capabilities(7) for the names');
    }
  }
  const sysctls: Record<string, string> = {};
  for (const entry of o.sysctl ?? []) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const problem = eq <= 0 ? `${JSON.stringify(entry)} is not key=value` : (sysctlProblem(key, container.hostNetwork) ?? sysctlValueProblem(key, entry.slice(eq + 1)));
    if (problem) refuse(`invalid --sysctl: ${problem}`, 'e.g. --sysctl net.ipv4.ip_unprivileged_port_start=0');
    sysctls[key] = entry.slice(eq + 1);
  }
  const opts = Object.assign({}, ...(o.securityOpt ?? []).map(securityOpt)) as { noNewPrivileges?: boolean; seccompProfile?: string };
  const fields: Partial<ContainerTemplate> = {
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.capAdd?.length || o.capDrop?.length ? { capabilities: normalizeCapabilities({ add: o.capAdd ?? [], drop: o.capDrop ?? [] }) } : {}),
    ...(o.readOnly ? { readOnlyRootFilesystem: true } : {}),
    ...(opts.seccompProfile !== undefined ? { seccompProfile: opts.seccompProfile } : {}),
    ...(opts.noNewPrivileges !== undefined ? { noNewPrivileges: opts.noNewPrivileges } : {}),
    ...(Object.keys(sysctls).length ? { sysctls } : {}),
  };
  return { fields, mounts: (o.tmpfs ?? []).map(parseTmpfs) };
}
