/**
 * From a container's template (what the user declared) to the runtime's ContainerSpec (what containerd runs):
 * names, labels, cgroup path, log file, network mode, the cell's /etc files and the environment kukeon injects.
 */
import type { NetworkMode } from '../../machines/container.js';
import type { ContainerTemplate } from '../../events/specs.js';
import { cgroupPath } from '../model/names.js';
import { CELL_NETWORK_MOUNTS, cellEtcFile, HOST_NETWORK_MOUNTS } from '../runtime/cellfiles/paths.js';
import { containerLogFile } from '../runtime/logs/paths.js';
import type { ContainerSpec, MountSpec } from '../runtime/ports.js';
import { runLayout, type EngineConfig } from './config.js';

/** Labels kukeon puts on its containerd containers; `kukeon.io/managed` marks ours for garbage collection. */
export const LABELS = {
  managed: 'kukeon.io/managed',
  realm: 'kukeon.io/realm',
  space: 'kukeon.io/space',
  stack: 'kukeon.io/stack',
  cell: 'kukeon.io/cell',
  container: 'kukeon.io/container',
  type: 'kukeon.io/container-type',
} as const;

/** Identity and runtime names of one container. */
export interface ContainerPlacement {
  realm: string;
  space: string;
  stack: string;
  cell: string;
  /** User-visible name (`<cell>_root` for the root). */
  name: string;
  root: boolean;
  namespace: string;
  containerdId: string;
}

/** The cgroup of a cell. */
export function cellCgroup(config: EngineConfig, p: { realm: string; space: string; stack: string; cell: string }): string {
  return cgroupPath({ realm: p.realm, space: p.space, stack: p.stack, cell: p.cell }, config.cgroupRoot);
}

/** The log file of a container's stdout and stderr, under the run path (layout in src/runtime/logs/paths.ts). */
export function containerLogPath(config: EngineConfig, p: ContainerPlacement): string {
  return containerLogFile(runLayout(config.runPath).logs, p, p.name);
}

/**
 * The read-only binds of the cell's /etc files (src/engine/hosts.ts) into a container: on the host's network, the
 * copies of the host's hosts and resolv.conf (its hostname is the host's); else the cell's own three files.
 */
export function cellEtcMounts(config: EngineConfig, p: ContainerPlacement, template: ContainerTemplate, network: NetworkMode): MountSpec[] {
  const mounts = network.mode === 'host' || template.hostNetwork ? HOST_NETWORK_MOUNTS : CELL_NETWORK_MOUNTS;
  const root = runLayout(config.runPath).cellEtc;
  return Object.entries(mounts).map(([file, target]) => ({
    type: 'bind',
    source: cellEtcFile(root, p, file as keyof typeof mounts),
    target,
    readOnly: true,
  }));
}

/** Builds the runtime spec of a container. */
export function buildContainerSpec(
  config: EngineConfig,
  p: ContainerPlacement,
  template: ContainerTemplate,
  network: NetworkMode,
): ContainerSpec {
  const cgroup = `${cellCgroup(config, p)}/${p.containerdId}`;
  const env = [
    `KUKEON_REALM=${p.realm}`,
    `KUKEON_SPACE=${p.space}`,
    `KUKEON_STACK=${p.stack}`,
    `KUKEON_CELL_NAME=${p.cell}`,
    `KUKEON_CONTAINER_ID=${p.containerdId}`,
    `KUKEON_CGROUP_PATH=${cgroup}`,
    ...template.env,
  ];
  return {
    namespace: p.namespace,
    id: p.containerdId,
    image: template.image,
    labels: {
      [LABELS.managed]: 'true',
      [LABELS.realm]: p.realm,
      [LABELS.space]: p.space,
      [LABELS.stack]: p.stack,
      [LABELS.cell]: p.cell,
      [LABELS.container]: p.name,
      [LABELS.type]: p.root ? 'root' : 'container',
    },
    ...(template.command.length > 0 ? { command: template.command } : {}),
    ...(template.args.length > 0 || template.command.length > 0 ? { args: template.args } : {}),
    env,
    ...(template.workingDir ? { workingDir: template.workingDir } : {}),
    ...(network.mode === 'host' ? {} : { hostname: p.cell }),
    cgroupsPath: cgroup,
    network,
    hostPid: template.hostPid,
    privileged: template.privileged,
    // The cell's /etc files first, so that a user's mount on one of those paths wins (it comes later).
    mounts: [...cellEtcMounts(config, p, template, network), ...template.mounts.map((m) => ({
      type: m.type,
      target: m.target,
      ...(m.source !== undefined ? { source: m.source } : {}),
      ...(m.readOnly !== undefined ? { readOnly: m.readOnly } : {}),
      ...(m.options !== undefined ? { options: m.options } : {}),
    }))],
    resources: template.resources,
    logPath: containerLogPath(config, p),
    ...(template.user !== undefined ? { user: template.user } : {}),
    ...(template.capabilities !== undefined ? { capabilities: template.capabilities } : {}),
    ...(template.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: template.readOnlyRootFilesystem } : {}),
    ...(template.seccompProfile !== undefined ? { seccompProfile: template.seccompProfile } : {}),
    ...(template.noNewPrivileges !== undefined ? { noNewPrivileges: template.noNewPrivileges } : {}),
    ...(template.sysctls !== undefined ? { sysctls: template.sysctls } : {}),
  };
}
