/**
 * The real runtime: containerd over gRPC, cgroupfs, CNI with its state under the run path, and the containers' log
 * files and the cells' /etc files under the run path.
 */
import { runLayout } from '../engine/config.js';
import type { Logger } from '../log.js';
import type { HostSettings } from '../settings.js';
import { createCgroups } from './cgroups/cgroupfs.js';
import { ownedCgroups } from './cgroups/ownership.js';
import { createCniNetworks } from './cni/networks.js';
import { ContainerdRuntime } from './containerd/runtime.js';
import { HostCellFiles } from './cellfiles/files.js';
import { FileLogs } from './logs/files.js';
import type { Runtime } from './ports.js';
import { FileSecretStore } from './secrets/store.js';

/** Builds the ports for a host's settings. */
export async function createRuntime(settings: HostSettings, logger?: Logger): Promise<Runtime> {
  const layout = runLayout(settings.engine.runPath);
  const networks = createCniNetworks({ confDir: layout.cniConf, ipamDir: layout.cniIpam, cacheDir: layout.cniCache, binDirs: settings.cniBinDirs, ...(logger ? { logger } : {}) });
  return {
    containers: new ContainerdRuntime({
      address: settings.containerdSocket,
      namespaceSuffix: settings.engine.namespaceSuffix,
      ...(settings.runcRoot ? { runcRoot: settings.runcRoot } : {}),
      execIoDir: layout.execIo,
      ...(logger ? { logger } : {}),
    }),
    // The cgroup root carries the install's mark, as its bridges do (one install id for both, kept with the run path).
    cgroups: ownedCgroups(await createCgroups(logger ? { logger } : {}), { root: settings.engine.cgroupRoot, instance: networks.instance }),
    networks,
    logs: new FileLogs(layout.logs, logger ? { logger } : {}),
    cellFiles: new HostCellFiles(layout.cellEtc),
    secrets: new FileSecretStore(layout.secrets),
  };
}
