/**
 * Resource documents (issue 12, item 5): every view kind printed as the manifest document apply reads, with every
 * template field under its manifest name, defaults left out, and the observed state in `status` only.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { CellTemplate, ContainerTemplate } from '../../../events/specs.js';
import { resourceDocument } from '../../../src/model/documents.js';
import { parseManifests } from '../../../src/model/manifest.js';
import type { CellView, ContainerView, RealmView, SpaceView, StackView, ViewMeta } from '../../../src/model/resources.js';

const meta: ViewMeta = { state: 'Ready', labels: {}, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:01.000Z', version: 3, seq: 42, error: null };

const full: ContainerTemplate = {
  name: 'app',
  image: 'kukeon.local/busybox:test',
  command: ['/bin/sh', '-c'],
  args: ['echo hi; sleep 9'],
  env: ['A=1', 'B=x=y'],
  workingDir: '/srv',
  privileged: true,
  hostNetwork: false,
  hostPid: true,
  mounts: [
    { type: 'bind', source: '/data', target: '/data', readOnly: true },
    { type: 'tmpfs', target: '/scratch' },
  ],
  resources: { memoryBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, pidsMax: 100 },
  restartPolicy: 'on-failure',
  restartBackoffSeconds: 3,
  restartMaxRetries: 4,
  ports: [
    { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1', protocol: 'tcp' },
    { containerPort: 53, protocol: 'udp' },
  ],
  user: 'www-data:staff',
  capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] },
  readOnlyRootFilesystem: true,
  seccompProfile: 'unconfined',
  noNewPrivileges: false,
  sysctls: { 'kernel.shmmax': '65536' },
};
const bare: ContainerTemplate = { name: 'side', image: 'busybox', command: [], args: [], env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never' };

function containerView(template: ContainerTemplate, root: boolean): ContainerView {
  return {
    kind: 'Container',
    realm: 'lab',
    space: 'net',
    stack: 'app',
    cell: 'web',
    name: root ? 'web_root' : template.name,
    root,
    containerdId: `lab_net_app_web_${template.name}`,
    namespace: 'lab.kukeon.io',
    image: template.image,
    template,
    pid: 123,
    exitCode: null,
    exitSignal: null,
    oomKilled: false,
    restarts: 2,
    ...meta,
  };
}

function cellView(template: CellTemplate): CellView {
  return {
    kind: 'Cell',
    realm: 'lab',
    space: 'net',
    stack: 'app',
    name: 'web',
    template,
    rootPid: 123,
    address: '10.86.0.7',
    cgroupPath: '/kukeon/lab/net/app/web',
    containers: template.containers.map((c) => containerView(c, c.name === template.root)),
    ...meta,
    labels: template.labels,
  };
}

/** The document as YAML, parsed back by the manifest parser: the template apply would record. */
const reparsed = (doc: unknown) => parseManifests(stringify(doc));

describe('resource documents', () => {
  it('prints every container field under its manifest name, and parses back to the same template', () => {
    const template: CellTemplate = { root: 'app', containers: [full, bare], labels: { tier: 'web' }, ip: '10.86.0.7' };
    const doc = resourceDocument(cellView(template));
    expect(doc.spec).toEqual({
      realmId: 'lab',
      spaceId: 'net',
      stackId: 'app',
      containers: [
        {
          id: 'app',
          image: 'kukeon.local/busybox:test',
          command: ['/bin/sh', '-c'],
          args: ['echo hi; sleep 9'],
          env: ['A=1', 'B=x=y'],
          workingDir: '/srv',
          privileged: true,
          hostPID: true,
          volumes: [
            { source: '/data', target: '/data', readOnly: true },
            { kind: 'tmpfs', target: '/scratch' },
          ],
          resources: { memoryLimitBytes: 64 << 20, cpuShares: 512, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, pidsLimit: 100 },
          restartPolicy: 'on-failure',
          restartBackoffSeconds: 3,
          restartMaxRetries: 4,
          ports: [{ containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' }, { containerPort: 53, protocol: 'udp' }],
          user: 'www-data:staff',
          capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] },
          readOnlyRootFilesystem: true,
          seccompProfile: 'unconfined',
          noNewPrivileges: false,
          sysctls: { 'kernel.shmmax': '65536' },
        },
        { id: 'side', image: 'busybox' },
      ],
    });
    expect(doc.metadata).toEqual({ name: 'web', labels: { tier: 'web' } });
    const [cell] = reparsed(doc);
    // The address is status only (documents.ts says why): everything else comes back as it was.
    const { ip: _ip, ...withoutIp } = template;
    expect(cell).toMatchObject({ kind: 'Cell', name: 'web', realm: 'lab', space: 'net', stack: 'app', template: withoutIp });
    expect(cell!.kind === 'Cell' && cell!.template.ip).toBeUndefined();
  });

  it('prints autoDelete only when true, and it parses back (issue 12)', () => {
    const template: CellTemplate = { root: 'side', containers: [bare], labels: {}, autoDelete: true };
    const doc = resourceDocument(cellView(template));
    expect(doc.spec).toMatchObject({ autoDelete: true });
    expect(reparsed(doc)[0]).toMatchObject({ kind: 'Cell', template: { autoDelete: true } });
    expect(resourceDocument(cellView({ ...template, autoDelete: false })).spec).not.toHaveProperty('autoDelete');
  });

  it('keeps the observed state in status, none of it in spec or metadata', () => {
    const doc = resourceDocument(cellView({ root: 'side', containers: [bare], labels: {} }));
    expect(Object.keys(doc)).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    expect(doc.metadata).toEqual({ name: 'web' });
    expect(doc.status).toMatchObject({ state: 'Ready', address: '10.86.0.7', rootPid: 123, cgroupPath: '/kukeon/lab/net/app/web', seq: 42 });
    expect(doc.status.containers).toEqual([expect.objectContaining({ name: 'web_root', state: 'Ready', pid: 123, restarts: 2, exitCode: null, oomKilled: false })]);
    expect(JSON.stringify(doc.spec)).not.toMatch(/Ready|10\.86|123/);
  });

  it('names the root container only when it is not the first', () => {
    expect(resourceDocument(cellView({ root: 'app', containers: [full, bare], labels: {} })).spec.rootContainerId).toBeUndefined();
    const doc = resourceDocument(cellView({ root: 'side', containers: [full, bare], labels: {} }));
    expect(doc.spec.rootContainerId).toBe('side');
    expect(reparsed(doc)[0]).toMatchObject({ template: { root: 'side' } });
  });

  it('prints a realm, space and stack with their manifest fields, the default namespace left out', () => {
    const realm = (name: string, namespace: string): RealmView => ({ kind: 'Realm', name, namespace, cgroupPath: `/kukeon/${name}`, system: false, ...meta, labels: { team: 'a' } });
    expect(resourceDocument(realm('lab', 'lab.kukeon.io'))).toEqual({
      apiVersion: 'v1beta1',
      kind: 'Realm',
      metadata: { name: 'lab', labels: { team: 'a' } },
      spec: {},
      status: { ...statusMeta(), namespace: 'lab.kukeon.io', cgroupPath: '/kukeon/lab', system: false },
    });
    expect(resourceDocument(realm('lab', 'other.kukeon.io')).spec).toEqual({ namespace: 'other.kukeon.io' });
    expect(resourceDocument(realm('lab', 'lab.example.org'), { namespaceSuffix: 'example.org' }).spec).toEqual({});

    const network = { name: 'lab-net', bridge: 'k-0123abcd', subnet: '10.86.1.0/24', ipMasq: true };
    const space = (allowFrom: string[]): SpaceView => ({ kind: 'Space', realm: 'lab', name: 'net', network, cgroupPath: '/kukeon/lab/net', allowFrom, ...meta });
    expect(resourceDocument(space([])).spec).toEqual({ realmId: 'lab' });
    const open = resourceDocument(space(['front', 'other/db']));
    expect(open.spec).toEqual({ realmId: 'lab', network: { allowFrom: ['front', 'other/db'] } });
    expect(open.status).toMatchObject({ network, cgroupPath: '/kukeon/lab/net' });
    expect(reparsed(open)[0]).toMatchObject({ kind: 'Space', name: 'net', realm: 'lab', allowFrom: ['front', 'other/db'] });

    const stack: StackView = { kind: 'Stack', realm: 'lab', space: 'net', name: 'app', cgroupPath: '/kukeon/lab/net/app', ...meta };
    expect(resourceDocument(stack)).toMatchObject({ kind: 'Stack', metadata: { name: 'app' }, spec: { realmId: 'lab', spaceId: 'net' }, status: { state: 'Ready' } });
    expect(reparsed(resourceDocument(stack))[0]).toMatchObject({ kind: 'Stack', name: 'app', realm: 'lab', space: 'net' });
  });

  it('prints a container as a Container document of its cell, the root one marked', () => {
    const doc = resourceDocument(containerView(full, true));
    expect(doc.metadata).toEqual({ name: 'app' });
    expect(doc.spec).toMatchObject({ realmId: 'lab', spaceId: 'net', stackId: 'app', cellId: 'web', id: 'app', image: full.image, root: true });
    expect(doc.status).toMatchObject({ name: 'web_root', state: 'Ready', pid: 123, restarts: 2 });
    expect(reparsed(doc)[0]).toMatchObject({ kind: 'Container', name: 'app', cell: 'web', root: true, container: full });
  });
});

function statusMeta() {
  return { state: meta.state, error: null, createdAt: meta.createdAt, updatedAt: meta.updatedAt, version: meta.version, seq: meta.seq };
}
