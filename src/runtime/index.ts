/**
 * The real runtime: containerd over gRPC, cgroupfs, CNI with its state under the run path, and the containers' log
 * files under the run path.
 */
import { runLayout } from '../engine/config.js';
import type { Logger } from '../log.js';
import type { HostSettings } from '../settings.js';
import { createCgroups } from './cgroups/cgroupfs.js';
import { createCniNetworks } from './cni/networks.js';
import { ContainerdRuntime } from './containerd/runtime.js';
import { FileLogs } from './logs/files.js';
import type { Runtime } from './ports.js';

/** Builds the four ports for a host's settings. */
export async function createRuntime(settings: HostSettings, logger?: Logger): Promise<Runtime> {
  const layout = runLayout(settings.engine.runPath);
  return {
    containers: new ContainerdRuntime({
      address: settings.containerdSocket,
      namespaceSuffix: settings.engine.namespaceSuffix,
      ...(settings.runcRoot ? { runcRoot: settings.runcRoot } : {}),
      ...(logger ? { logger } : {}),
    }),
    cgroups: await createCgroups(logger ? { logger } : {}),
    networks: createCniNetworks({ confDir: layout.cniConf, ipamDir: layout.cniIpam, cacheDir: layout.cniCache, binDirs: settings.cniBinDirs, ...(logger ? { logger } : {}) }),
    logs: new FileLogs(layout.logs, logger ? { logger } : {}),
  };
}
