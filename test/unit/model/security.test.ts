import { describe, expect, it } from 'vitest';
import type { CellTemplate, ContainerTemplate } from '../../../events/specs.js';
import { parseTmpfs, securityFields } from '../../../src/cli/security-flags.js';
import { isKukeError } from '../../../src/errors.js';
import { parseManifests } from '../../../src/model/manifest.js';
import {
  ALL_CAPABILITIES,
  capabilitiesAdded,
  DEFAULT_CAPABILITIES,
  effectiveCapabilities,
  normalizeCapability,
  sysctlProblem,
  userProblem,
} from '../../../src/model/security.js';
import { validateCellTemplate } from '../../../src/model/template-check.js';
import { template } from '../../support/fake-engine.js';

const main: ContainerTemplate = template('kukeon.local/busybox:test').containers[0]!;
const cell = (container: Partial<ContainerTemplate> = {}): CellTemplate => ({ root: 'main', labels: {}, containers: [{ ...main, ...container }] });

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isKukeError(err, 'InvalidArgument')) return err.message;
    throw err;
  }
  return 'accepted';
}

/** A one-cell manifest (as JSON, which YAML reads too) whose container has `fields`. */
const manifest = (fields: Record<string, unknown>) =>
  JSON.stringify({ kind: 'Cell', metadata: { name: 'web' }, spec: { realmId: 'lab', spaceId: 'net1', stackId: 'app', containers: [{ id: 'main', image: 'kukeon.local/busybox:test', ...fields }] } });

describe('capabilities', () => {
  it("takes Docker's spellings: any case, with or without CAP_, and ALL", () => {
    expect(normalizeCapability('net_admin')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('CAP_SYS_TIME')).toBe('CAP_SYS_TIME');
    expect(normalizeCapability('all')).toBe('ALL');
    expect(normalizeCapability('NET_ADMINN')).toBeUndefined();
  });

  it("computes the set as Docker does: default minus drop plus add; drop ALL keeps only add; add ALL keeps all but drop", () => {
    expect(effectiveCapabilities(undefined)).toEqual(DEFAULT_CAPABILITIES);
    expect(effectiveCapabilities({ add: ['CAP_NET_ADMIN'], drop: ['CAP_CHOWN'] })).toEqual([...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN'), 'CAP_NET_ADMIN']);
    expect(effectiveCapabilities({ add: ['CAP_KILL'], drop: ['ALL'] })).toEqual(['CAP_KILL']);
    expect(effectiveCapabilities({ add: ['ALL'], drop: [] })).toEqual(ALL_CAPABILITIES);
  });

  it('tells the roles check which capabilities go beyond the default set (none for a default one, nor for privileged)', () => {
    expect(capabilitiesAdded({ capabilities: { add: ['CAP_CHOWN'], drop: [] } })).toEqual([]);
    expect(capabilitiesAdded({ capabilities: { add: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'], drop: ['ALL'] } })).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(capabilitiesAdded({ capabilities: { add: ['ALL'], drop: [] } })).toHaveLength(ALL_CAPABILITIES.length - DEFAULT_CAPABILITIES.length);
    expect(capabilitiesAdded({ privileged: true, capabilities: { add: ['ALL'], drop: [] } })).toEqual([]);
  });
});

describe('users and sysctls', () => {
  it.each(['1000', '1000:1000', 'www-data', 'www-data:www-data', '0:staff', 'svc$'])('accepts the user %s', (user) => {
    expect(userProblem(user)).toBeUndefined();
  });

  it.each(['', 'a:b:c', 'a b', '-x', '4294967296', '1:2147483648'])('refuses the user %j', (user) => {
    expect(userProblem(user)).toMatch(/must be uid\[:gid\] or name\[:group\]/);
  });

  it("allows only namespaced sysctls (Docker's rule), and no net.* on the host's network", () => {
    for (const key of ['kernel.shmmax', 'kernel.msgmax', 'kernel.sem', 'fs.mqueue.msg_max', 'net.ipv4.ip_forward']) expect(sysctlProblem(key, false)).toBeUndefined();
    expect(sysctlProblem('kernel.hostname', false)).toMatch(/not namespaced/);
    expect(sysctlProblem('vm.overcommit_memory', false)).toMatch(/not namespaced/);
    expect(sysctlProblem('net.ipv4.ip_forward', true)).toMatch(/host's network/);
  });
});

describe('manifests and templates', () => {
  it('records the security fields of a manifest, capability names normalised, empty sysctls as absent', () => {
    const [doc] = parseManifests(
      manifest({
        user: 'www-data:staff',
        capabilities: { add: ['net_admin', 'CAP_NET_ADMIN'], drop: ['all'] },
        readOnlyRootFilesystem: true,
        noNewPrivileges: false,
        sysctls: { 'net.ipv4.ping_group_range': '0 2147483647' },
      }),
    );
    if (doc?.kind !== 'Cell') throw new Error('expected a cell');
    expect(doc.template.containers[0]).toMatchObject({
      user: 'www-data:staff',
      capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      noNewPrivileges: false,
      sysctls: { 'net.ipv4.ping_group_range': '0 2147483647' },
    });
    const [plain] = parseManifests(manifest({ sysctls: {} }));
    if (plain?.kind !== 'Cell') throw new Error('expected a cell');
    expect(Object.keys(plain.template.containers[0]!)).not.toContain('sysctls');
    expect(Object.keys(plain.template.containers[0]!)).not.toContain('user');
  });

  it.each([
    ['an unknown capability', { capabilities: { add: ['SYS_ADMINN'] } }, /capabilities\.add\[0\]: unknown capability "SYS_ADMINN"/],
    ['a host sysctl', { sysctls: { 'kernel.hostname': 'x' } }, /sysctls\["kernel\.hostname"\]: sysctl "kernel\.hostname" is not namespaced/],
    ['a net sysctl on the host network', { hostNetwork: true, sysctls: { 'net.ipv4.ip_forward': '1' } }, /cannot be set in a container on the host's network/],
    ['a malformed user', { user: 'a:b:c' }, /user: user "a:b:c" must be uid\[:gid\]/],
    ['an empty sysctl value', { sysctls: { 'kernel.shmmax': '' } }, /must be non-empty/],
    ['a relative seccomp profile', { seccompProfile: 'docker.json' }, /seccompProfile: seccomp profile "docker\.json" must be default, unconfined or the absolute path/],
  ])('refuses %s in a manifest, naming the field', (_what, fields, message) => {
    expect(refusal(() => parseManifests(manifest(fields)))).toMatch(message);
  });

  it('refuses through the CreateCell path what a manifest refuses, and names not written as recorded', () => {
    const check = (c: Partial<ContainerTemplate>) => refusal(() => validateCellTemplate(cell(c), 'cell "web"'));
    expect(check({ user: '1000:1000', capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] }, readOnlyRootFilesystem: true, sysctls: { 'kernel.shmmax': '1' } })).toBe('accepted');
    expect(check({ capabilities: { add: ['net_admin'], drop: [] } })).toMatch(/write capability "net_admin" as CAP_NET_ADMIN/);
    expect(check({ sysctls: { 'kernel.panic': '1' } })).toMatch(/containers\[0\]\.sysctls\["kernel\.panic"\]: .*not namespaced/);
    expect(check({ user: 'a b' })).toMatch(/containers\[0\]\.user: user "a b"/);
  });

  it('refuses a net.* sysctl on any container of a cell whose root is on the host network', () => {
    const template: CellTemplate = { root: 'main', labels: {}, containers: [{ ...main, hostNetwork: true }, { ...main, name: 'side', sysctls: { 'net.core.somaxconn': '1024' } }] };
    expect(refusal(() => validateCellTemplate(template, 'cell "web"'))).toMatch(/net\.core\.somaxconn.*host's network/);
  });
});

describe('the flags of kuke create cell', () => {
  it('turns Docker flags into template fields, and --tmpfs into a noexec tmpfs mount', () => {
    const { fields, mounts } = securityFields(
      { user: '1000:1000', capAdd: ['net_admin'], capDrop: ['ALL'], readOnly: true, tmpfs: ['/tmp:size=1m', '/run/x:ro,exec'], securityOpt: ['no-new-privileges=false', 'seccomp=unconfined'], sysctl: ['net.ipv4.ip_forward=1'] },
      { hostNetwork: false },
    );
    expect(fields).toEqual({
      user: '1000:1000',
      capabilities: { add: ['CAP_NET_ADMIN'], drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      seccompProfile: 'unconfined',
      noNewPrivileges: false,
      sysctls: { 'net.ipv4.ip_forward': '1' },
    });
    expect(securityFields({ securityOpt: ['seccomp=/etc/kukeon/profile.json'] }, { hostNetwork: false }).fields).toEqual({ seccompProfile: '/etc/kukeon/profile.json' });
    expect(mounts).toEqual([
      { type: 'tmpfs', target: '/tmp', options: ['size=1m', 'noexec'] },
      { type: 'tmpfs', target: '/run/x', readOnly: true, options: ['exec'] },
    ]);
    expect(securityFields({}, { hostNetwork: false })).toEqual({ fields: {}, mounts: [] });
    expect(securityFields({ securityOpt: ['no-new-privileges'] }, { hostNetwork: false }).fields).toEqual({ noNewPrivileges: true });
  });

  it.each([
    ['an unknown capability', { capAdd: ['FOO'] }, /^invalid --cap-add: unknown capability "FOO"/],
    ['a relative --tmpfs', { tmpfs: ['tmp'] }, /^invalid --tmpfs "tmp": the path must be absolute/],
    ['an unknown --security-opt', { securityOpt: ['apparmor=x'] }, /^unknown --security-opt "apparmor=x"/],
    ['a bad no-new-privileges', { securityOpt: ['no-new-privileges=maybe'] }, /takes true or false/],
    ['a --sysctl without =', { sysctl: ['net.ipv4.ip_forward'] }, /is not key=value/],
    ['a host --sysctl', { sysctl: ['kernel.panic=1'] }, /not namespaced/],
    ['a bad --user', { user: 'a:b:c' }, /^invalid --user/],
    ['a relative seccomp profile', { securityOpt: ['seccomp=profile.json'] }, /seccomp profile "profile\.json" must be default, unconfined or the absolute path/],
  ])('refuses %s with one line', (_what, options, message) => {
    expect(refusal(() => securityFields(options, { hostNetwork: false }))).toMatch(message);
    expect(refusal(() => parseTmpfs('/ok'))).toBe('accepted');
  });
});
