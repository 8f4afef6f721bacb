/**
 * Who may do what (issue 11), end to end: real users made by the test (useradd, with groups of their own standing
 * in for kukeon, kukeon-admin and kukeon-view), kuke run as each of them against a real daemon in its cell. A matrix
 * of role × operation checks what is allowed, the one-line denial, that a denied request created nothing, and that
 * each denial is in `kuke history daemon` with its caller. Also: the root-only run path and in-process mode.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, KUKE, useInitializedHost, type RunResult } from '../support/e2e.js';

const P = `kkr${process.pid.toString(36)}`;
const GROUP = { operator: `${P}op`, admin: `${P}adm`, viewer: `${P}view` };
const USER = { operator: `${P}o`, admin: `${P}a`, viewer: `${P}v`, none: `${P}n` };
/** Made before the host starts; `kuke init` gets it as the operators' bind allow-list. */
const ALLOWED = `/tmp/${P}-allowed`;

beforeAll(() => {
  for (const g of Object.values(GROUP)) execFileSync('groupadd', [g]);
  const members: Record<keyof typeof USER, string[]> = { operator: [GROUP.operator], admin: [GROUP.operator, GROUP.admin], viewer: [GROUP.operator, GROUP.viewer], none: [] };
  for (const [role, user] of Object.entries(USER)) {
    const groups = members[role as keyof typeof USER];
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', ...(groups.length ? ['--groups', groups.join(',')] : []), user]);
  }
  mkdirSync(join(ALLOWED, 'data'), { recursive: true });
  symlinkSync('/etc', join(ALLOWED, 'escape'));
});
afterAll(() => {
  for (const user of Object.values(USER)) execFileSync('userdel', [user], { stdio: 'ignore' });
  for (const g of Object.values(GROUP)) execFileSync('groupdel', [g], { stdio: 'ignore' });
  execFileSync('rm', ['-rf', ALLOWED]);
});

const host = useInitializedHost({
  subnet: '10.244.0.0/18',
  tag: 'ro',
  loadImage: true,
  initEnv: { KUKEON_SOCKET_GROUP: GROUP.operator, KUKEON_ADMIN_GROUP: GROUP.admin, KUKEON_VIEW_GROUP: GROUP.viewer, KUKEON_ALLOWED_BIND_PATHS: ALLOWED },
});

beforeAll(() => {
  // The test host lives in a 0700 temp dir; a real socket dir (/run/kukeon, 0750 root:kukeon) sits in /run.
  chmodSync(host().dir, 0o755);
});

/** kuke as `user`, with the user's groups (initgroups), through the daemon. */
function as(user: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', process.execPath, KUKE, ...args], { env: host().env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A one-container Cell document in the default realm, with extra container lines. */
function cell(name: string, extra: string[] = [], realm = 'default'): string {
  return [
    'kind: Cell',
    `metadata: {name: ${name}}`,
    `spec: {realmId: ${realm}, spaceId: default, stackId: default, containers: [{id: main, image: kukeon.local/busybox:test, args: [sleep, '3600']${extra.map((e) => `, ${e}`).join('')}}]}`,
    '',
  ].join('\n');
}

/** Names in `kuke get … -o json` (manifest documents: metadata.name). */
const namesOf = (json: string) => (JSON.parse(json) as { metadata: { name: string } }[]).map((d) => d.metadata.name).sort();
const cellNames = async () => namesOf((await host().kuke(['get', 'cells', '-o', 'json'])).stdout);

interface Denial {
  type: string;
  actor: { uid?: number; name?: string };
  data: { method: string; target?: string; what: string; role: string; needed: string };
}
const denials = async () => (JSON.parse((await host().kuke(['history', 'daemon', '-o', 'json'])).stdout) as Denial[]).filter((e) => e.type === 'AccessDenied');
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));

const ADMIN_ONLY = `need root or group ${GROUP.admin}`;

describe('an operator (group kukeon)', () => {
  it('runs workloads in a user realm: apply, stop, start, delete', async () => {
    const u = USER.operator;
    const apply = await as(u, ['apply', '-f', '-'], cell('op-web', [`volumes: [{kind: bind, source: ${ALLOWED}/data, target: /data}]`]));
    expect(apply.code, apply.stderr).toBe(0);
    expect((await as(u, ['stop', 'cell', 'op-web', '--timeout', '500ms'])).code).toBe(0);
    expect((await as(u, ['start', 'cell', 'op-web'])).code).toBe(0);
    const del = await as(u, ['delete', 'cell', 'op-web']);
    expect(del.code, del.stderr).toBe(0);
    expect(await cellNames()).toEqual([]);
  });

  it.each([
    ['a privileged container', ['privileged: true'], `permission denied: privileged containers ${ADMIN_ONLY}`],
    ["the host's PID namespace", ['hostPID: true'], `permission denied: containers in the host's PID namespace (hostPID) ${ADMIN_ONLY}`],
    ["the host's network", ['hostNetwork: true'], `permission denied: containers on the host's network (hostNetwork) ${ADMIN_ONLY}`],
    ['a capability beyond the default set', ['capabilities: {add: [SYS_ADMIN]}'], `permission denied: capabilities beyond Docker's default set (SYS_ADMIN) ${ADMIN_ONLY}`],
    ['a bind of the host root', ['volumes: [{kind: bind, source: /, target: /host}]'], `permission denied: bind mounts of host path / outside the allowed bind paths (${ALLOWED}) ${ADMIN_ONLY}`],
    ['a bind out of the allow-list through ..', [`volumes: [{kind: bind, source: ${ALLOWED}/../../etc, target: /e}]`], `permission denied: bind mounts of host path ${ALLOWED}/../../etc (/etc) outside the allowed bind paths (${ALLOWED}) ${ADMIN_ONLY}`],
    ['a bind out of the allow-list through a symlink', [`volumes: [{kind: bind, source: ${ALLOWED}/escape, target: /e}]`], `permission denied: bind mounts of host path ${ALLOWED}/escape (/etc) outside the allowed bind paths (${ALLOWED}) ${ADMIN_ONLY}`],
  ])('is refused %s, in one line, with nothing created and the denial in history', async (_name, extra, message) => {
    const before = (await denials()).length;
    const r = await as(USER.operator, ['apply', '-f', '-'], cell('op-bad', extra));
    expect(expectOneLineError(r)).toBe(`Error: ${message}`);
    expect(await cellNames()).toEqual([]);
    const after = await denials();
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)).toMatchObject({ actor: { uid: uidOf(USER.operator), name: 'kuke apply -f -' }, data: { method: 'applyManifest', role: 'operator', needed: 'admin' } });
  });

  it('is refused the system realm and realms, and in-process mode', async () => {
    const sys = ['--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'];
    expect(expectOneLineError(await as(USER.operator, ['kill', 'cell', 'kukeond', ...sys]))).toBe(`Error: permission denied: changes in the system realm (kukeon-system) ${ADMIN_ONLY}`);
    expect((await host().kuke(['get', 'cell', 'kukeond', ...sys, '-o', 'json'])).stdout).toContain('"state": "Ready"');
    expect(expectOneLineError(await as(USER.operator, ['create', 'realm', 'lab']))).toBe(`Error: permission denied: creating realms needs root or group ${GROUP.admin}`);
    expect(namesOf((await host().kuke(['get', 'realms', '-o', 'json'])).stdout)).toEqual(['default', 'kukeon-system']);
    expect(expectOneLineError(await as(USER.operator, ['get', 'cells', '--no-daemon']))).toMatch(/^Error: working in-process .* needs root; ask kukeond instead/);
    const last = (await denials()).at(-1)!;
    expect(last.data).toMatchObject({ method: 'createRealm', target: 'lab', what: 'creating realms' });
    const table = (await host().kuke(['history', 'daemon'])).stdout;
    expect(table).toMatch(new RegExp(`AccessDenied +Running → Running +user uid=${uidOf(USER.operator)} pid=\\d+ +denied createRealm lab: creating realms \\(role operator, needs admin\\)`));
  });
});

describe('a viewer (kukeon and kukeon-view)', () => {
  it('reads but writes nothing', async () => {
    const u = USER.viewer;
    expect((await as(u, ['get', 'cells'])).code).toBe(0);
    expect((await as(u, ['history', 'cell', 'kukeond', '--realm', 'kukeon-system', '--space', 'kukeon', '--stack', 'kukeon'])).code).toBe(0);
    expect((await as(u, ['version'])).code).toBe(0);
    const create = await as(u, ['create', 'cell', 'v-web', '--image', 'kukeon.local/busybox:test']);
    expect(expectOneLineError(create)).toBe(`Error: permission denied: creating cells needs group ${GROUP.operator} or ${GROUP.admin}`);
    expect(await cellNames()).toEqual([]);
    expect((await denials()).at(-1)).toMatchObject({ actor: { uid: uidOf(u) }, data: { method: 'createCell', role: 'viewer', needed: 'operator' } });
  });
});

describe('an admin (kukeon-admin)', () => {
  it('may run, enter and delete a privileged container with a host bind; an operator may not enter or restart it', async () => {
    const r = await as(USER.admin, ['apply', '-f', '-'], cell('adm', ['privileged: true', 'volumes: [{kind: bind, source: /etc, target: /e, readOnly: true}]']));
    expect(r.code, r.stderr).toBe(0);
    expect(await cellNames()).toEqual(['adm']);
    // An operator may neither enter it (the process would be as privileged as the cell) nor restart it.
    expect(expectOneLineError(await as(USER.operator, ['exec', 'adm', '--', 'true']))).toBe(`Error: permission denied: privileged containers ${ADMIN_ONLY}`);
    expect(expectOneLineError(await as(USER.operator, ['restart', 'cell', 'adm']))).toBe(`Error: permission denied: privileged containers ${ADMIN_ONLY}`);
    expect((await as(USER.admin, ['exec', 'adm', '--', 'true'])).code).toBe(0);
    expect((await as(USER.admin, ['delete', 'cell', 'adm'])).code).toBe(0);
  });
});

describe('anyone else', () => {
  it('is refused at the socket, told which groups give what', async () => {
    const line = expectOneLineError(await as(USER.none, ['get', 'cells']));
    expect(line).toMatch(/permission denied/);
    expect(line).toContain('sudo usermod -aG kukeon $USER');
    expect(line).toContain('kukeon-view');
    expect(line).toContain('kukeon-admin');
  });
});

describe('files', () => {
  it('keeps the event log, read model and logs root-only, and the socket 0660 to the socket group', async () => {
    const { runPath, socket } = host();
    for (const name of ['events', 'model', 'logs']) expect((statSync(join(runPath, name)).mode & 0o777).toString(8)).toBe('700');
    // What LevelDB wrote since the daemon tightened them may be 0644: the directory is what keeps it from others.
    const read = spawn('setpriv', [`--reuid=${USER.admin}`, `--regid=${USER.admin}`, '--init-groups', 'cat', join(runPath, 'events', 'CURRENT')]);
    let err = '';
    read.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise((r) => read.on('close', r))).toBe(1);
    expect(err).toContain('Permission denied');
    const s = statSync(socket);
    expect((s.mode & 0o777).toString(8)).toBe('660');
    expect(s.gid).toBe(Number(execFileSync('getent', ['group', GROUP.operator], { encoding: 'utf8' }).split(':')[2]));
  });
});
