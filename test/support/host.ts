/**
 * An isolated kukeon host for integration tests: a private containerd, a temp run path (event log, CNI state,
 * logs), a test-only cgroup root, namespace suffix and pod subnet, and an engine over the real runtime. `cleanup()`
 * removes what the test created and checks that nothing is left behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTestImage } from '../../tools/build-test-image.js';
import { startContainerd, type PrivateContainerd } from '../../tools/harness/containerd.js';
import { catalogCodec } from '../../src/engine/codec.js';
import { runLayout } from '../../src/engine/config.js';
import { openEngine, type OpenedEngine } from '../../src/engine/index.js';
import { applyIsolation } from '../../src/runtime/cni/isolation.js';
import { createRuntime } from '../../src/runtime/index.js';
import type { Runtime } from '../../src/runtime/ports.js';
import { resolveSettings, type HostSettings } from '../../src/settings.js';
import { LevelEventLog } from '../../src/store/event-log.js';

/** A test host. */
export interface TestHost {
  ctrd: PrivateContainerd;
  settings: HostSettings;
  runtime: Runtime;
  opened: OpenedEngine;
  image: string;
  imageTar: string;
  /** Closes the engine and opens it again on the same log (a daemon restart). */
  reopen(): Promise<OpenedEngine>;
  /** Imports the test image into a realm's namespace. */
  importImage(realm: string): Promise<void>;
  cleanup(): Promise<void>;
}

const tag = `t${process.pid.toString(36)}`;

/**
 * Starts a host. `subnet` keeps concurrent test files on distinct pod subnets. With `ctrd`, the host uses that
 * containerd (another host's: two installs side by side) and leaves stopping it to its owner; `name` then tells the
 * installs apart (cgroup root, namespace suffix). `cgroupRoot` gives it another host's root (a misconfigured install).
 */
export async function startHost(options: { subnet?: string; ctrd?: PrivateContainerd; name?: string; ipMasq?: boolean; cgroupRoot?: string } = {}): Promise<TestHost> {
  const dir = mkdtempSync(join(tmpdir(), 'kukeon-host-'));
  const ctrd = options.ctrd ?? (await startContainerd());
  const ownsContainerd = options.ctrd === undefined;
  const id = `${tag}${options.name ?? ''}`;
  const settings = resolveSettings(
    {
      runPath: join(dir, 'run'),
      socket: join(dir, 'kukeond.sock'),
      containerdSocket: ctrd.address,
      runcRoot: ctrd.runcRoot,
      cgroupRoot: options.cgroupRoot ?? `/kukeon-${id}`,
      namespaceSuffix: `${id}.kukeon.io`,
      podSubnet: options.subnet ?? '10.251.0.0/16',
      ipMasq: options.ipMasq ?? false,
      cniBinDir: ['/usr/lib/cni'],
    },
    {},
  );
  const runtime = await createRuntime(settings);
  const path = runLayout(settings.engine.runPath).eventLog;
  const store = await LevelEventLog.create(path, { codec: catalogCodec });
  const config = { ...settings.engine, stopGraceMs: 2_000 };
  let opened = await openEngine({ store, runtime, config });
  const { path: imageTar, ref } = buildTestImage();
  const host: TestHost = {
    ctrd,
    settings,
    runtime,
    get opened() {
      return opened;
    },
    image: ref,
    imageTar,
    async reopen() {
      await opened.close();
      opened = await openEngine({ store: await LevelEventLog.open(path, { codec: catalogCodec }), runtime, config });
      return opened;
    },
    async importImage(realm: string) {
      await runtime.containers.importImage(`${realm}.${settings.engine.namespaceSuffix}`, imageTar);
    },
    async cleanup() {
      try {
        if (!opened.engine.isClosed) {
          for (const realm of opened.operations.listRealms()) await opened.operations.deleteRealm({ realm: realm.name, cascade: true, force: true }, { actor: { type: 'user' } }).catch(() => undefined);
          await opened.close();
        }
      } finally {
        runtime.containers.close();
        if (ownsContainerd) await ctrd.stop();
        for (const mount of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified', '']) {
          const root = join('/sys/fs/cgroup', mount, settings.engine.cgroupRoot);
          if (existsSync(root)) execFileSync('find', [root, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
        }
        // The isolation chains of this install (named with its id), whatever the teardown above managed.
        await applyIsolation(runtime.networks.instance, []).catch(() => undefined);
        for (const bridge of readdirSync('/sys/class/net').filter((n) => n.startsWith('k-'))) {
          // Only bridges of this host's networks: their conflists live under its run path.
          const conf = join(runLayout(settings.engine.runPath).cniConf);
          if (existsSync(conf) && readdirSync(conf).some((f) => execFileSync('cat', [join(conf, f)]).toString().includes(`"${bridge}"`))) {
            execFileSync('ip', ['link', 'delete', bridge]);
          }
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return host;
}
