/**
 * Network before the process (issue 10), on the real runtime: a cell's root task is created, its network namespace
 * attached through CNI, and only then started, so the process starts with eth0 up and addressed; a root that runs to
 * its end ends its cell Exited with its code, in the view and in history, never Failed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellTemplate } from '../../../events/specs.js';
import { containerLogPath } from '../../../src/engine/container-spec.js';
import { readHistory } from '../../../src/engine/history.js';
import { startHost, type TestHost } from '../../support/host.js';

const actor = { actor: { type: 'user' as const, uid: 0 } };
const at = { realm: 'r1', space: 's1', stack: 't' };
let host: TestHost;

const ops = () => host.opened.operations;

function template(args: string[]): CellTemplate {
  return {
    root: 'main',
    labels: {},
    containers: [{ name: 'main', image: host.image, command: [], args, env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' }],
  };
}

/** The root's log file, once it holds `marker`. */
async function rootLog(cell: string, marker: string): Promise<string> {
  const view = ops().getCell({ ...at, cell });
  const root = view.containers[0]!;
  const path = containerLogPath(host.opened.engine.config, { ...at, cell, name: root.name, root: true, namespace: root.namespace, containerdId: root.containerdId });
  const deadline = Date.now() + 10_000;
  let text = '';
  while (Date.now() < deadline) {
    text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (text.includes(marker)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}

/** The cell's history (its events and its containers'), as `kuke history cell` reads it: [type, data]. */
async function history(cell: string): Promise<[string, Record<string, unknown>][]> {
  const records = await readHistory(host.opened.engine.store, { kind: 'cell', ...at, cell });
  return records.map((r) => [r.type, r.data as Record<string, unknown>]);
}

beforeAll(async () => {
  host = await startHost({ subnet: '10.247.0.0/16', name: 'nf' });
  await ops().createRealm({ name: at.realm }, actor);
  await host.importImage(at.realm);
  await ops().createSpace({ realm: at.realm, space: at.space }, actor);
  await ops().createStack(at, actor);
}, 120_000);

afterAll(async () => {
  await host?.cleanup();
}, 120_000);

describe('network before the process', () => {
  it('starts the root with eth0 up and addressed: what it prints first shows its address', async () => {
    const cell = 'early';
    const { view } = await ops().createCell({ ...at, cell, template: template(['sh', '-c', 'ip -4 addr show eth0; cat /proc/net/dev; echo printed; exec sleep 300']), start: true }, actor);
    expect(view.state).toBe('Ready');
    const log = await rootLog(cell, 'printed');
    expect(view.address).toMatch(/^10\.247\.\d+\.\d+\/24$/);
    // `ip addr` ran as the process's first act: eth0 was there, up, with the cell's address.
    expect(log).toMatch(/eth0.*UP/);
    expect(log).toContain(`inet ${view.address}`);
    expect(log).toMatch(/^\s*eth0:/m);
    await ops().deleteCell({ ...at, cell }, actor);
  });

  it('ends a root that runs `true` as Exited with code 0, in the view and in history, never Failed', async () => {
    const cell = 'once';
    const { view } = await ops().createCell({ ...at, cell, template: template(['true']), start: true }, actor);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ name: 'once_root', state: 'Exited', exitCode: 0 });
    const events = await history(cell);
    expect(events.map(([type]) => type)).not.toContain('EffectFailed');
    expect(events.find(([type]) => type === 'ContainerExited')?.[1]).toMatchObject({ container: 'once_root', root: true, code: 0 });
    expect(events.find(([type]) => type === 'TaskExited')?.[1]).toMatchObject({ code: 0 });
    // Its start attached it: the address is in the root's TaskStarted, and was released when the cell wound down.
    expect(events.find(([type]) => type === 'TaskStarted')?.[1].address).toMatch(/^10\.247\./);
    expect(await host.runtime.networks.listAttachments()).not.toContainEqual(expect.objectContaining({ containerId: 's1_t_once_root' }));
  });

  it("ends a root that runs `sh -c 'exit 3'` as Exited with code 3, in the view and in history", async () => {
    const cell = 'three';
    const { view } = await ops().createCell({ ...at, cell, template: template(['sh', '-c', 'exit 3']), start: true }, actor);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]).toMatchObject({ state: 'Exited', exitCode: 3 });
    expect(ops().getCell({ ...at, cell }).state).toBe('Exited');
    const events = await history(cell);
    expect(events.find(([type]) => type === 'ContainerExited')?.[1]).toMatchObject({ root: true, code: 3 });
    expect(events.map(([type]) => type)).not.toContain('EffectFailed');
    // Started again, it runs to its end again, the same way.
    expect((await ops().startCell({ ...at, cell }, actor)).state).toBe('Exited');
  });

  it('ends a root that prints its interfaces and exits at once Exited(0), having seen eth0', async () => {
    const cell = 'glance';
    const { view } = await ops().createCell({ ...at, cell, template: template(['sh', '-c', 'cat /proc/net/dev; echo done']), start: true }, actor);
    expect(view.state).toBe('Exited');
    expect(view.containers[0]?.exitCode).toBe(0);
    const log = await rootLog(cell, 'done');
    expect(log).toMatch(/^\s*eth0:/m);
    expect(log).toMatch(/^\s*lo:/m);
  });
});
