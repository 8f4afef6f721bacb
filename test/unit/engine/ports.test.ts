/**
 * Published ports in the engine, on the fake runtime: the start passes a cell's published ports to its attachment,
 * and a host port already held (by another cell of the install, by a socket of the host) is refused at create and
 * apply before anything is recorded.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { CellTemplate, Port } from '../../../events/specs.js';
import { applyManifest } from '../../../src/engine/apply.js';
import { toKukeError } from '../../../src/errors.js';
import { setupEngine, template, user } from '../../support/fake-engine.js';

type Setup = Awaited<ReturnType<typeof setupEngine>>;
let s: Setup;

const withPorts = (...ports: Port[]): CellTemplate => {
  const t = template();
  return { ...t, containers: [{ ...t.containers[0]!, ports }] };
};
const at = (cell: string) => ({ realm: 'default', space: 'default', stack: 'default', cell });
const tcp = (hostPort: number, hostIP?: string): Port => ({ containerPort: 80, hostPort, protocol: 'tcp', ...(hostIP ? { hostIP } : {}) });

async function refusal(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return toKukeError(err);
  }
  throw new Error('expected a refusal');
}

const cellManifest = (name: string, ports: string) => `
kind: Cell
metadata: {name: ${name}}
spec:
  realmId: default
  spaceId: default
  stackId: default
  containers:
    - id: main
      image: busybox
      ports: ${ports}
`;

beforeEach(async () => {
  s = await setupEngine();
});

describe('published ports', () => {
  it('forwards the union of the containers\' published ports to the cell\'s attachment when it starts', async () => {
    const t = template('busybox', ['side']);
    const both: CellTemplate = {
      ...t,
      containers: [
        { ...t.containers[0]!, ports: [tcp(8080, '127.0.0.1'), { containerPort: 9090, protocol: 'tcp' }] },
        { ...t.containers[1]!, ports: [{ containerPort: 53, hostPort: 5353, protocol: 'udp' }] },
      ],
    };
    await s.ops.createCell({ ...at('web'), template: both, start: true }, user);
    expect([...s.world.attachments.values()].map((a) => a.portMappings)).toEqual([
      [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp' },
      ],
    ]);
  });

  it('refuses a second cell asking for a host port another cell holds, running or stopped, and records nothing', async () => {
    await s.ops.createCell({ ...at('web'), template: withPorts(tcp(8080)), start: true }, user);
    const err = await refusal(s.ops.createCell({ ...at('other'), template: withPorts(tcp(8080, '127.0.0.1')) }, user));
    expect(err.kind).toBe('AlreadyExists');
    expect(err.message).toBe('cell "other": host port 127.0.0.1:8080/tcp is already published by cell "web" in realm "default", space "default", stack "default" (0.0.0.0:8080->80/tcp)');
    expect(s.engine.get('cell/default/default/default/other')).toBeUndefined();

    await s.ops.stopCell(at('web'), user, { mode: 'kill' });
    expect((await refusal(s.ops.createCell({ ...at('other'), template: withPorts(tcp(8080)) }, user))).kind).toBe('AlreadyExists');
  });

  it('lets cells publish the same port on different host addresses, or other protocols, and frees a deleted cell\'s ports', async () => {
    s.world.hostAddresses.push('192.0.2.10');
    await s.ops.createCell({ ...at('a'), template: withPorts(tcp(8080, '127.0.0.1')) }, user);
    await s.ops.createCell({ ...at('b'), template: withPorts(tcp(8080, '192.0.2.10')) }, user);
    await s.ops.createCell({ ...at('c'), template: withPorts({ containerPort: 80, hostPort: 8080, protocol: 'udp' }) }, user);
    await s.ops.deleteCell(at('a'), user);
    await s.ops.createCell({ ...at('d'), template: withPorts(tcp(8080, '127.0.0.1')) }, user);
    expect(s.engine.list('cell/', { live: true }).map((a) => a.stream.split('/').pop())).toEqual(['b', 'c', 'd']);
  });

  it('refuses a host port a process of the host listens on, and a host address the host does not have', async () => {
    s.world.hostSockets.push({ protocol: 'tcp', port: 8443 });
    const taken = await refusal(s.ops.createCell({ ...at('web'), template: withPorts(tcp(8443, '127.0.0.1')) }, user));
    expect(taken.kind).toBe('FailedPrecondition');
    expect(taken.message).toBe('cell "web": host port 127.0.0.1:8443/tcp is taken: a process on the host listens on *:8443/tcp');
    const foreign = await refusal(s.ops.createCell({ ...at('web'), template: withPorts(tcp(8080, '203.0.113.9')) }, user));
    expect(foreign.kind).toBe('InvalidArgument');
    expect(foreign.message).toContain('host address 203.0.113.9 of 203.0.113.9:8080->80/tcp is not an address of this host');
    expect(s.engine.get('cell/default/default/default/web')).toBeUndefined();
  });

  it('refuses a host port another install forwards (portmap rules without a socket)', async () => {
    s.world.hostForwarded.push({ protocol: 'udp', port: 5353, owner: 'container x_y_z_root of CNI network other.net.12345678' });
    const err = await refusal(s.ops.createCell({ ...at('dns'), template: withPorts({ containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1', protocol: 'udp' }) }, user));
    expect(err.kind).toBe('FailedPrecondition');
    expect(err.message).toBe('cell "dns": host port 127.0.0.1:5353/udp is taken: the host already forwards *:5353/udp to container x_y_z_root of CNI network other.net.12345678 (another install, or another CNI tool)');
  });

  it('fails the start of a cell whose host port a process of the host took while it was stopped, saying so', async () => {
    await s.ops.createCell({ ...at('web'), template: withPorts(tcp(8080, '127.0.0.1')), start: true }, user);
    await s.ops.stopCell(at('web'), user, { mode: 'stop' });
    s.world.hostSockets.push({ protocol: 'tcp', port: 8080, address: '127.0.0.1' });
    const err = await refusal(s.ops.startCell(at('web'), user));
    expect(err.kind).toBe('FailedPrecondition');
    expect(err.message).toContain('host port 127.0.0.1:8080/tcp is taken: a process on the host listens on 127.0.0.1:8080/tcp');
    expect(s.world.attachments.size).toBe(0);
    s.world.hostSockets.length = 0;
    expect((await s.ops.startCell(at('web'), user)).state).toBe('Ready');
  });

  it('lets apply change a cell that keeps its own ports, and refuses a manifest whose cells publish one port twice before applying any', async () => {
    await applyManifest(s.ops, cellManifest('web', '[{containerPort: 80, hostPort: 8080}]'), user);
    const again = await applyManifest(s.ops, cellManifest('web', '[{containerPort: 81, hostPort: 8080}]'), user);
    expect(again.map((r) => r.action)).toEqual(['updated']);

    const err = await refusal(applyManifest(s.ops, `${cellManifest('one', '[{containerPort: 80, hostPort: 9000}]')}---${cellManifest('two', '[{containerPort: 80, hostPort: 9000, hostIP: 127.0.0.1}]')}`, user));
    expect(err.kind).toBe('AlreadyExists');
    expect(err.message).toMatch(/^document 2 \(Cell "two"\): cell "two": host port 127\.0\.0\.1:9000\/tcp is already published by cell "one"/);
    expect(s.engine.get('cell/default/default/default/one')).toBeUndefined();
  });
});
