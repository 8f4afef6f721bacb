import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerTemplate } from '../../../events/specs.js';
import {
  Authorizer,
  containerDemands,
  decide,
  denialMessage,
  processGroups,
  resolveHostPath,
  roleOf,
  RULES,
  templateDemands,
  type BindPolicy,
  type DenialRecord,
  type Method,
  type PolicyContext,
  type RequestOf,
  type Role,
} from '../../../src/api/authorization.js';
import { cellTemplateToPb } from '../../../src/api/convert.js';
import * as pb from '../../../src/api/gen/kukeon/v1/kukeon.js';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import type { RealmView } from '../../../src/model/resources.js';
import { cellOf, imageContainer } from '../../support/cell-templates.js';
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

const GROUPS = { operator: 'kukeon', admin: 'kukeon-admin', viewer: 'kukeon-view' };
const GIDS: Record<string, number> = { kukeon: 990, 'kukeon-admin': 991, 'kukeon-view': 992 };
const gidOf = (name: string) => GIDS[name];

const realm = (name: string, system = false) => ({ kind: 'Realm', name, namespace: `${name}.kukeon.io`, cgroupPath: null, system }) as unknown as RealmView;
const REALMS = [realm('default'), realm('kukeon-system', true), realm('old', false)];

const root = mkdtempSync(join(tmpdir(), 'kukeon-authz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'srv', 'data', 'app'), { recursive: true });
mkdirSync(join(root, 'srv', 'data2'), { recursive: true });
mkdirSync(join(root, 'etc'), { recursive: true });
writeFileSync(join(root, 'etc', 'shadow'), '');
symlinkSync('/etc', join(root, 'srv', 'data', 'escape'));
symlinkSync('../../etc', join(root, 'srv', 'data', 'up'));
symlinkSync('/srv/data/app', join(root, 'srv', 'inside'));
symlinkSync('loop', join(root, 'srv', 'loop'));

const bind: BindPolicy = { allowed: ['/srv/data'], resolve: (path) => resolveHostPath(path, root) };
const ctx = (cells: Record<string, ContainerTemplate> = {}): PolicyContext => ({
  realms: () => REALMS,
  cellTemplate: (ref) => (cells[ref.cell] ? cellOf(cells[ref.cell]!) : undefined),
  bind,
});

const plain = imageContainer('busybox', 'main', ['sleep', '1']);
const createCell = (container: Partial<ContainerTemplate>, where = 'default'): RequestOf<'createCell'> => ({
  realm: where,
  space: 'default',
  stack: 'default',
  name: 'web',
  template: cellTemplateToPb(cellOf({ ...plain, ...container })),
  start: false,
});
const cellRef = (cell: string, where = 'default') => ({ realm: where, space: 'default', stack: 'default', cell });
const ref = (kind: pb.Kind, name: string, where = 'default') => ({ kind, realm: where, space: 'default', stack: 'default', cell: '', name });

describe('roles from the kernel credentials', () => {
  const caller = (uid: number, gid: number, groups: number[] = []) => ({ uid, gid, pid: 1, groups });

  it('makes root an admin whatever its groups', () => {
    expect(roleOf(caller(0, 0), GROUPS, gidOf)).toBe('admin');
  });

  it('gives admin to the admin group, by supplementary or primary group', () => {
    expect(roleOf(caller(1000, 1000, [990, 991]), GROUPS, gidOf)).toBe('admin');
    expect(roleOf(caller(1000, 991), GROUPS, gidOf)).toBe('admin');
  });

  it('narrows a member of the socket group to a viewer when it is in the view group', () => {
    expect(roleOf(caller(1000, 1000, [990, 992]), GROUPS, gidOf)).toBe('viewer');
    expect(roleOf(caller(1000, 1000, [992]), GROUPS, gidOf)).toBe('viewer');
  });

  it('makes a member of the socket group an operator, and anyone else nothing', () => {
    expect(roleOf(caller(1000, 1000, [990]), GROUPS, gidOf)).toBe('operator');
    expect(roleOf(caller(1000, 1000, [5, 27]), GROUPS, gidOf)).toBeUndefined();
  });

  it('gives no role through a group that does not exist, and takes gids as given', () => {
    expect(roleOf(caller(1000, 1000, [990]), { ...GROUPS, operator: 'nosuchgroup' }, gidOf)).toBeUndefined();
    expect(roleOf(caller(1000, 1000, [4242]), { ...GROUPS, admin: '4242' }, (n) => (/^\d+$/.test(n) ? Number(n) : gidOf(n)))).toBe('admin');
  });

  it('takes a group as name:gid (how kuke init hands it to the daemon), checking the gid and naming the name', () => {
    const given = { operator: 'ops:4240', admin: 'admins:4242', viewer: 'viewers:4241' };
    expect(roleOf(caller(1000, 1000, [4242]), given)).toBe('admin');
    expect(roleOf(caller(1000, 1000, [4240]), given)).toBe('operator');
    expect(denialMessage({ allowed: false, what: 'privileged containers', needed: 'admin', singular: false }, given)).toBe('permission denied: privileged containers need root or group admins');
    expect(denialMessage({ allowed: false, what: 'creating cells', needed: 'operator', singular: true }, given)).toBe('permission denied: creating cells needs group ops or admins');
  });

  it("reads a process's supplementary groups from /proc", () => {
    const proc = join(root, 'proc');
    mkdirSync(join(proc, '77'), { recursive: true });
    writeFileSync(join(proc, '77', 'status'), 'Name:\tkuke\nUid:\t1000\t1000\t1000\t1000\nGroups:\t990 27 \nNgid:\t0\n');
    expect(processGroups(77, proc)).toEqual([990, 27]);
    expect(processGroups(78, proc)).toEqual([]);
  });
});

describe('the rule table', () => {
  const read: Method[] = ['ping', 'find', 'usage', 'readHistory', 'watchHistory', 'verifyLog', 'listSecrets', 'logs'];
  const requests: { [M in Method]: RequestOf<M> } = {
    ping: {},
    find: { ref: ref(pb.Kind.KIND_CELL, ''), atSeq: 0, atTime: '' },
    usage: { ref: ref(pb.Kind.KIND_CELL, 'web') },
    readHistory: { ref: ref(pb.Kind.KIND_CELL, 'web'), sinceSeq: 0, sinceTime: '' },
    watchHistory: { ref: ref(pb.Kind.KIND_CELL, 'web'), sinceSeq: 0, sinceTime: '' },
    verifyLog: {},
    createRealm: { name: 'lab', namespace: '', labels: {} },
    createSpace: { realm: 'default', name: 's', labels: {} },
    createStack: { realm: 'default', space: 'default', name: 't', labels: {} },
    createCell: createCell({}),
    applyManifest: { manifest: 'kind: Stack\nmetadata: {name: t}\nspec: {realmId: default, spaceId: default}\n' },
    delete: { ref: ref(pb.Kind.KIND_CELL, 'web'), cascade: false, force: false, keepLogs: false },
    startCell: { cell: cellRef('web') },
    stopCell: { cell: cellRef('web'), mode: 'stop', graceMs: 0 },
    restartCell: { cell: cellRef('web'), graceMs: 0 },
    putSecret: { realm: 'default', space: 'default', name: 'db', data: { k: Buffer.from('v') }, labels: {}, createOnly: true },
    listSecrets: { realm: 'default', space: '', name: '' },
    deleteSecret: { realm: 'default', space: 'default', name: 'db', force: false },
    exec: { start: { cell: cellRef('web'), container: '', command: ['sh'], env: [], user: '', workdir: '', stdin: true, tty: true, size: undefined } },
    logs: { cell: cellRef('web'), container: '', follow: false },
  };
  const least: Record<Method, Role> = {
    ping: 'viewer',
    find: 'viewer',
    usage: 'viewer',
    readHistory: 'viewer',
    watchHistory: 'viewer',
    verifyLog: 'viewer',
    createRealm: 'admin',
    createSpace: 'operator',
    createStack: 'operator',
    createCell: 'operator',
    applyManifest: 'operator',
    delete: 'operator',
    startCell: 'operator',
    stopCell: 'operator',
    restartCell: 'operator',
    putSecret: 'operator',
    listSecrets: 'viewer',
    deleteSecret: 'operator',
    exec: 'operator',
    logs: 'viewer',
  };

  it('has a rule for every RPC of the service', () => {
    expect(Object.keys(RULES).sort()).toEqual(Object.keys(pb.KukeonServiceService).sort());
    // @ts-expect-error a table without a rule for every method does not compile
    const partial: typeof RULES = { ping: RULES.ping };
    expect(partial).toBeDefined();
  });

  for (const method of Object.keys(least) as Method[]) {
    it(`lets ${least[method]} and above call ${method} in a user realm, and no one below`, () => {
      for (const role of [undefined, 'viewer', 'operator', 'admin'] as const) {
        const allowed = decide(role, method, requests[method] as never, ctx()).allowed;
        const expected = role !== undefined && ['viewer', 'operator', 'admin'].indexOf(role) >= ['viewer', 'operator', 'admin'].indexOf(least[method]);
        expect({ role, allowed }).toEqual({ role, allowed: expected });
      }
    });
  }

  it('keeps viewers to reads', () => {
    for (const method of Object.keys(least) as Method[]) expect(decide('viewer', method, requests[method] as never, ctx()).allowed).toBe(read.includes(method));
  });
});

describe('content checks', () => {
  const denied = (container: Partial<ContainerTemplate>, role: Role = 'operator') => {
    const d = decide(role, 'createCell', createCell(container), ctx());
    return d.allowed ? undefined : denialMessage(d, GROUPS);
  };

  it.each([
    ['privileged', { privileged: true }, 'permission denied: privileged containers need root or group kukeon-admin'],
    ['hostPid', { hostPid: true }, "permission denied: containers in the host's PID namespace (hostPID) need root or group kukeon-admin"],
    ['hostNetwork', { hostNetwork: true }, "permission denied: containers on the host's network (hostNetwork) need root or group kukeon-admin"],
    ['a host port below 1024', { ports: [{ containerPort: 80, hostPort: 80, protocol: 'tcp' as const }] }, 'permission denied: host ports below 1024 (80) need root or group kukeon-admin'],
  ])('refuses %s to an operator, with one line naming it and who may', (_name, container, message) => {
    expect(denied(container)).toBe(message);
    expect(denied(container, 'admin')).toBeUndefined();
  });

  // Fields other parts add to the container template (issue 11 item 2), checked by name once they exist.
  it.each([
    ['a capability beyond the default set', { capabilities: { add: ['CAP_SYS_ADMIN'] } }, "capabilities beyond Docker's default set (SYS_ADMIN)"],
    ['a device', { devices: [{ path: '/dev/kvm' }] }, 'host devices'],
    ['an unconfined seccomp profile', { seccompProfile: 'unconfined' }, 'seccomp profiles other than the default (unconfined)'],
    ['noNewPrivileges: false', { noNewPrivileges: false }, 'containers that may gain privileges (noNewPrivileges: false)'],
  ])('asks admin for %s', (_name, extra, what) => {
    expect(containerDemands({ ...plain, ...extra } as ContainerTemplate, bind)).toEqual([{ what, role: 'admin' }]);
  });

  it("lets an operator add a capability of Docker's default set and publish a high port", () => {
    expect(containerDemands({ ...plain, capabilities: { add: ['net_bind_service', 'CAP_KILL'] }, seccompProfile: 'default' } as ContainerTemplate, bind)).toEqual([]);
    expect(denied({ ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }] })).toBeUndefined();
  });

  const mount = (source: string) => ({ mounts: [{ type: 'bind' as const, source, target: '/m' }] });

  it('lets an operator bind a path under the allow-list, and tmpfs anywhere', () => {
    expect(denied(mount('/srv/data'))).toBeUndefined();
    expect(denied(mount('/srv/data/app'))).toBeUndefined();
    expect(denied(mount('/srv/inside'))).toBeUndefined();
    expect(denied({ mounts: [{ type: 'tmpfs', target: '/tmp' }] })).toBeUndefined();
  });

  it.each([
    ['a path outside the list', '/etc', '/etc'],
    ['the host root', '/', '/'],
    ['a sibling that shares the prefix', '/srv/data2', '/srv/data2'],
    ['.. out of an allowed path', '/srv/data/../../etc', '/etc'],
    ['an absolute symlink out of an allowed path', '/srv/data/escape/shadow', '/etc/shadow'],
    ['a relative symlink out of an allowed path', '/srv/data/up', '/etc'],
    ['a symlink loop', '/srv/loop', undefined],
    ['a path that does not exist (yet)', '/srv/data/later', undefined],
    ['a relative source', 'srv/data', undefined],
  ])('refuses an operator a bind of %s', (_name, source, real) => {
    const message = denied(mount(source));
    expect(message).toMatch(/^permission denied: bind mounts of host path .* (outside the allowed bind paths|that does not resolve) \(\/srv\/data\) need root or group kukeon-admin$/);
    if (real !== undefined && real !== source) expect(message).toContain(`(${real})`);
    expect(denied(mount(source), 'admin')).toBeUndefined();
  });

  it('refuses every bind to an operator when the allow-list is empty (the default)', () => {
    const none = { ...ctx(), bind: { ...bind, allowed: [] } };
    const d = decide('operator', 'createCell', createCell(mount('/srv/data')), none);
    expect(d.allowed).toBe(false);
    expect(d.allowed || denialMessage(d, GROUPS)).toContain('outside the allowed bind paths (none)');
  });

  it('checks every container of a cell, not only the root', () => {
    const template = cellOf(plain, { ...plain, name: 'side', privileged: true });
    expect(templateDemands(template, bind).map((d) => d.what)).toEqual(['privileged containers']);
  });

  it('refuses an operator anything in the system realm, by its name, its old name or its mark', () => {
    for (const where of ['kukeon-system', 'kuke-system']) {
      const d = decide('operator', 'createCell', createCell({}, where), ctx());
      expect(d.allowed || denialMessage(d, GROUPS)).toBe(`permission denied: changes in the system realm (${where}) need root or group kukeon-admin`);
    }
    const marked = { ...ctx(), realms: () => [realm('sys', true)] };
    expect(decide('operator', 'stopCell', { cell: cellRef('kukeond', 'sys'), mode: 'kill', graceMs: 0 }, marked).allowed).toBe(false);
    expect(decide('operator', 'delete', { ref: ref(pb.Kind.KIND_CELL, 'kukeond', 'kukeon-system'), cascade: false, force: true, keepLogs: false }, ctx()).allowed).toBe(false);
    expect(decide('admin', 'delete', { ref: ref(pb.Kind.KIND_CELL, 'kukeond', 'kukeon-system'), cascade: false, force: true, keepLogs: false }, ctx()).allowed).toBe(true);
    // Secrets of the system realm are the admins'.
    const put = decide('operator', 'putSecret', { realm: 'kukeon-system', space: 'kukeon', name: 'x', data: {}, labels: {}, createOnly: true }, ctx());
    expect(put.allowed || denialMessage(put, GROUPS)).toBe('permission denied: changes in the system realm (kukeon-system) need root or group kukeon-admin');
    expect(decide('operator', 'deleteSecret', { realm: 'kukeon-system', space: 'kukeon', name: 'x', force: false }, ctx()).allowed).toBe(false);
  });

  it("keeps exec in the system realm (a shell in the daemon's own cell) to admins", () => {
    const execIn = (realm: string) => ({ start: { cell: cellRef('kukeond', realm), container: '', command: ['sh'], env: [], user: '', workdir: '', stdin: false, tty: false, size: undefined } });
    expect(decide('operator', 'exec', execIn('kukeon-system'), ctx()).allowed).toBe(false);
    expect(decide('admin', 'exec', execIn('kukeon-system'), ctx()).allowed).toBe(true);
    expect(decide('operator', 'exec', execIn('default'), ctx()).allowed).toBe(true);
  });

  it("keeps exec in a cell whose template needs admin to admins: the process would be as privileged as the cell", () => {
    const execIn = (cell: string) => ({ start: { cell: cellRef(cell), container: '', command: ['sh'], env: [], user: '', workdir: '', stdin: false, tty: false, size: undefined } });
    const cells = { priv: { ...plain, privileged: true }, web: plain };
    const d = decide('operator', 'exec', execIn('priv'), ctx(cells));
    expect(d.allowed || denialMessage(d, GROUPS)).toBe('permission denied: privileged containers need root or group kukeon-admin');
    expect(decide('operator', 'exec', execIn('web'), ctx(cells)).allowed).toBe(true);
    expect(decide('admin', 'exec', execIn('priv'), ctx(cells)).allowed).toBe(true);
  });

  it('keeps realms to admins: creating, applying and deleting one', () => {
    const d = decide('operator', 'delete', { ref: ref(pb.Kind.KIND_REALM, 'default', ''), cascade: true, force: false, keepLogs: false }, ctx());
    expect(d.allowed || denialMessage(d, GROUPS)).toBe('permission denied: deleting realms needs root or group kukeon-admin');
    const a = decide('operator', 'applyManifest', { manifest: 'kind: Realm\nmetadata: {name: lab}\n' }, ctx());
    expect(a.allowed || denialMessage(a, GROUPS)).toBe('permission denied: creating or changing realms needs root or group kukeon-admin');
    const c = decide('viewer', 'createRealm', { name: 'lab', namespace: '', labels: {} }, ctx());
    expect(c.allowed || denialMessage(c, GROUPS)).toBe('permission denied: creating realms needs root or group kukeon-admin');
  });

  it('checks every document of a manifest before any is applied', () => {
    const manifest = [
      'kind: Space\nmetadata: {name: s}\nspec: {realmId: default}',
      'kind: Cell\nmetadata: {name: ok}\nspec: {realmId: default, spaceId: default, stackId: default, containers: [{id: a, image: busybox}]}',
      'kind: Cell\nmetadata: {name: bad}\nspec: {realmId: default, spaceId: default, stackId: default, containers: [{id: a, image: busybox, hostNetwork: true}]}',
    ].join('\n---\n');
    const d = decide('operator', 'applyManifest', { manifest }, ctx());
    expect(d.allowed || denialMessage(d, GROUPS)).toBe("permission denied: containers on the host's network (hostNetwork) need root or group kukeon-admin");
    expect(decide('admin', 'applyManifest', { manifest }, ctx()).allowed).toBe(true);
  });

  it('refuses an operator to start or restart a cell whose recorded template needs admin, but lets it stop one', () => {
    const cells = { priv: { ...plain, privileged: true }, web: plain };
    expect(decide('operator', 'startCell', { cell: cellRef('priv') }, ctx(cells)).allowed).toBe(false);
    expect(decide('operator', 'restartCell', { cell: cellRef('priv'), graceMs: 0 }, ctx(cells)).allowed).toBe(false);
    expect(decide('operator', 'startCell', { cell: cellRef('web') }, ctx(cells)).allowed).toBe(true);
    expect(decide('operator', 'stopCell', { cell: cellRef('priv'), mode: 'stop', graceMs: 0 }, ctx(cells)).allowed).toBe(true);
  });

  it('names a viewer what it asked for when it tries to write', () => {
    const d = decide('viewer', 'createCell', createCell({}), ctx());
    expect(d.allowed || denialMessage(d, GROUPS)).toBe('permission denied: creating cells needs group kukeon or kukeon-admin');
  });
});

describe('the authorizer', () => {
  const caller = { uid: 1000, gid: 1000, pid: 42 };
  const make = (groups: number[], now = () => 0) => {
    const records: { denial: DenialRecord; actor: unknown }[] = [];
    const authorizer = new Authorizer({
      groups: GROUPS,
      context: ctx(),
      record: async (denial, actor) => {
        records.push({ denial, actor });
      },
      logger: silentLogger(),
      groupsOf: () => groups,
      gidOf,
      now,
    });
    return { authorizer, records };
  };
  const actor = { type: 'user' as const, uid: 1000, gid: 1000, pid: 42, name: 'kuke create cell web --privileged' };

  it('records a denial with its caller and throws PermissionDenied with the one line', async () => {
    const { authorizer, records } = make([990]);
    const err = await rejection(authorizer.check('createCell', createCell({ privileged: true }), caller, actor));
    expect(isKukeError(err, ErrorKind.PermissionDenied)).toBe(true);
    expect((err as Error).message).toBe('permission denied: privileged containers need root or group kukeon-admin');
    expect(records).toEqual([{ denial: { method: 'createCell', target: 'default/default/default/web', what: 'privileged containers', role: 'operator', needed: 'admin' }, actor }]);
  });

  it('records nothing for an allowed request', async () => {
    const { authorizer, records } = make([990]);
    await authorizer.check('createCell', createCell({}), caller, actor);
    expect(records).toEqual([]);
  });

  it('refuses a caller the kernel could not name', async () => {
    const { authorizer, records } = make([991]);
    expect(isKukeError(await rejection(authorizer.check('ping', {}, undefined, actor)), ErrorKind.PermissionDenied)).toBe(true);
    expect(records).toEqual([]);
  });

  it('records a burst of denials per uid, then counts the rest into the next record', async () => {
    let t = 0;
    const { authorizer, records } = make([992], () => t);
    for (let i = 0; i < 25; i++) await rejection(authorizer.check('createRealm', { name: 'x', namespace: '', labels: {} }, caller, actor));
    expect(records.length).toBe(20);
    t += 3_000;
    await rejection(authorizer.check('createRealm', { name: 'x', namespace: '', labels: {} }, caller, actor));
    expect(records.length).toBe(21);
    expect(records[20]!.denial.suppressed).toBe(5);
  });
});
