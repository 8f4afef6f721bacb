/**
 * An engine on the fake runtime and an in-memory log, with the default realm, space and stack: the starting point of
 * the engine's unit tests.
 */
import type { ContainerTemplate } from '../../events/specs.js';
import { catalogCodec } from '../../src/engine/codec.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { openEngine } from '../../src/engine/index.js';
import { FakeWorld } from '../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from './memory-store.js';

export const user = { actor: { type: 'user' as const, uid: 0 } };
export const ref = { realm: 'default', space: 'default', stack: 'default', cell: 'web' };
/**
 * The fake's one-shot roots exit within a microtask of their start, before any settle time would matter: starts do not
 * wait for it here (tests of the settle time pass their own).
 */
export const CONFIG = { runPath: '/tmp/kukeon-unit', ipMasq: false, startSettleMs: 0 };

/** A cell template: root `main`, then `extra` containers; `overrides` apply to the extra ones. */
export function template(image = 'busybox', extra: string[] = [], overrides: Partial<ContainerTemplate> = {}) {
  return {
    root: 'main',
    labels: {},
    containers: ['main', ...extra].map((name) => ({
      name,
      image,
      command: [],
      args: [],
      env: [],
      privileged: false,
      hostNetwork: false,
      hostPid: false,
      mounts: [],
      resources: {},
      restartPolicy: 'never' as const,
      ...(name === 'main' ? {} : overrides),
    })),
  };
}

export async function setupEngine(config: Partial<EngineConfig> = {}) {
  const world = new FakeWorld();
  world.addImage('busybox');
  const store = new MemoryStore(catalogCodec);
  const opened = await openEngine({ store, runtime: world.runtime(), config: { ...CONFIG, ...config } });
  const ops = opened.operations;
  await ops.createRealm({ name: 'default' }, user);
  await ops.createSpace({ realm: 'default', space: 'default' }, user);
  await ops.createStack({ realm: 'default', space: 'default', stack: 'default' }, user);
  return { world, store, opened, ops, engine: opened.engine };
}
