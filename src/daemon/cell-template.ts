/**
 * How kukeond runs as a workload: cell `kukeond` (space `kukeon`, stack `kukeon`, realm `kukeon-system`) whose
 * root container — `kukeond_root` — runs the daemon privileged, in the host's network and PID namespaces (it
 * manages host bridges and enters cells' namespaces), with the host paths it manages bound at the same paths, so
 * that what it records is true for an in-process `kuke` on the host too.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CellTemplate } from '../../events/specs.js';
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES } from '../engine/config.js';
import { DEFAULT_RUNC_ROOT } from '../runtime/containerd/runc-state.js';
import type { HostSettings } from '../settings.js';
import { DAEMON_BUNDLE, DAEMON_NODE } from './image.js';

/**
 * The gids of the role groups as the host knows them (src/api/bootstrap.ts ensureGroups): the daemon gets them as
 * `name:gid`, so that it needs no view of the host's /etc/group (its image has its own) and still names the group in
 * messages. Undefined: the group does not exist, and its name alone is passed.
 */
export interface DaemonGroups {
  socket: number | undefined;
  admin?: number | undefined;
  view?: number | undefined;
}

/** `name:gid`, or the group as given when it has no gid or is one. */
function withGid(group: string, gid: number | undefined): string {
  return gid === undefined || /^\d+$/.test(group) || group.includes(':') ? group : `${group}:${gid}`;
}

/** The flags kukeond gets inside its container: the host's settings, verbatim. */
export function daemonArgs(settings: HostSettings, groups: DaemonGroups): string[] {
  const e = settings.engine;
  return [
    '--run-path', e.runPath,
    '--socket', settings.socket,
    '--containerd-socket', settings.containerdSocket,
    ...(settings.runcRoot ? ['--runc-root', settings.runcRoot] : []),
    '--cgroup-root', e.cgroupRoot,
    '--namespace-suffix', e.namespaceSuffix,
    '--pod-subnet', e.podSubnet,
    ...settings.cniBinDirs.flatMap((d) => ['--cni-bin-dir', d]),
    ...(e.ipMasq ? [] : ['--no-ip-masq']),
    '--socket-group', withGid(settings.socketGroup, groups.socket),
    '--admin-group', withGid(settings.adminGroup, groups.admin),
    '--view-group', withGid(settings.viewGroup, groups.view),
    ...settings.allowedBindPaths.flatMap((d) => ['--allow-bind-path', d]),
    '--log-level', settings.logLevel,
    // Only when changed, so the template (and the running daemon) of a host on the defaults stays as it was.
    ...(e.logMaxBytes !== DEFAULT_LOG_MAX_BYTES ? ['--log-max-size', String(e.logMaxBytes)] : []),
    ...(e.logMaxFiles !== DEFAULT_LOG_MAX_FILES ? ['--log-max-file', String(e.logMaxFiles)] : []),
  ];
}

/**
 * The host's resolver configuration, bound read-only: the daemon derives each cell's /etc/resolv.conf from it
 * (src/engine/resolv-conf.ts) and copies it into cells on the host's network. It reads the host's files through /proc/1/root first, which is live but not readable
 * where the host's init holds capabilities the daemon lacks; the image has no resolv.conf of its own.
 */
export const HOST_RESOLVER_PATHS: readonly string[] = ['/etc/hosts', '/etc/resolv.conf', '/run/systemd/resolve'];

/** The kukeond cell's template for an image. */
export function daemonCellTemplate(settings: HostSettings, image: string, groups: DaemonGroups): CellTemplate {
  const binds = [
    settings.engine.runPath,
    dirname(settings.socket),
    dirname(settings.containerdSocket),
    // runc's state of tasks whose shim died is cleared by the daemon (src/runtime/containerd/runc-state.ts); the
    // directory is made by ensureDaemonDirs (src/api/bootstrap.ts) before this template is built.
    settings.runcRoot ?? DEFAULT_RUNC_ROOT,
    '/sys/fs/cgroup',
    ...settings.cniBinDirs,
    ...HOST_RESOLVER_PATHS,
    // The operators' bind allow-list, read-only: where /proc/1/root cannot be walked (the host's init holds
    // capabilities the daemon lacks), the daemon resolves a bind source's symlinks here, as the host has them.
    ...settings.allowedBindPaths,
  ];
  // A bind of a missing path fails the container's start: bind what exists (CNI dirs vary between hosts). A path
  // inside another bind is already there.
  const existing = [...new Set(binds)].filter((path) => existsSync(path));
  const unique = existing.filter((path) => !existing.some((outer) => path.startsWith(`${outer}/`)));
  return {
    root: 'kukeond',
    labels: { 'kukeon.io/component': 'kukeond' },
    containers: [
      {
        name: 'kukeond',
        image,
        command: [DAEMON_NODE, DAEMON_BUNDLE],
        args: daemonArgs(settings, groups),
        env: [],
        privileged: true,
        hostNetwork: true,
        hostPid: true,
        mounts: unique.map((path) => ({ type: 'bind' as const, source: path, target: path, readOnly: settings.cniBinDirs.includes(path) || HOST_RESOLVER_PATHS.includes(path) || settings.allowedBindPaths.includes(path) })),
        resources: {},
        restartPolicy: 'never',
      },
    ],
  };
}
