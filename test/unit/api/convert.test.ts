import { describe, expect, it } from 'vitest';
import { resourceFromPb, resourceToPb } from '../../../src/api/convert.js';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { viewsOf } from '../../../src/engine/read-model.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { MemoryStore } from '../../support/memory-store.js';

describe('API conversions', () => {
  it('carries every view through protobuf unchanged, key order included (get parity)', async () => {
    const world = new FakeWorld();
    world.addImage('busybox');
    const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: { runPath: '/tmp/kukeon-convert' } });
    const o = { actor: { type: 'user' as const } };
    await opened.operations.createRealm({ name: 'r', labels: { team: 'a' } }, o);
    await opened.operations.createSpace({ realm: 'r', space: 's' }, o);
    await opened.operations.createStack({ realm: 'r', space: 's', stack: 't' }, o);
    const container = { name: 'main', image: 'busybox', command: ['/bin/sh'], args: ['-c', 'x'], env: ['A=1'], workingDir: '/w', privileged: false, hostNetwork: false, hostPid: false, mounts: [{ type: 'bind' as const, source: '/a', target: '/b', readOnly: true }, { type: 'bind' as const, source: '/c', target: '/c', readOnly: false }, { type: 'tmpfs' as const, target: '/t' }], resources: { memoryBytes: 1024, pidsMax: 9 }, restartPolicy: 'never' as const };
    await opened.operations.createCell({ realm: 'r', space: 's', stack: 't', cell: 'c', template: { root: 'main', containers: [container, { ...container, name: 'side', mounts: [], resources: {}, user: 'www-data:staff', capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] }, readOnlyRootFilesystem: true, noNewPrivileges: false, sysctls: { 'kernel.shmmax': '65536' } }], labels: { x: 'y' } }, start: true }, o);
    await opened.operations.createCell({ realm: 'r', space: 's', stack: 't', cell: 'd', template: { root: 'main', containers: [container], labels: {}, autoDelete: true } }, o);
    world.exitTask('r.kukeon.io', 's_t_c_side', 3);
    await opened.engine.settle();
    const views = viewsOf(opened.engine);
    for (const view of [...views.realms, ...views.spaces, ...views.stacks, ...views.cells, ...views.cells.flatMap((c) => c.containers)]) {
      expect(JSON.stringify(resourceFromPb(resourceToPb(view)))).toBe(JSON.stringify(view));
    }
  });
});
