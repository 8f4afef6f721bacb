import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { DEFAULT_CAPABILITIES } from '../../../src/model/security.js';
import { buildOciSpec } from '../../../src/runtime/containerd/oci-spec.js';
import { ALLOWED_SYSCALLS, buildSeccompProfile, profileFromFile } from '../../../src/runtime/containerd/seccomp.js';
import type { ContainerSpec, ImageConfig } from '../../../src/runtime/ports.js';

const base: ContainerSpec = { namespace: 'ns', id: 'c', image: 'img', labels: {}, cgroupsPath: '/kukeon/c', network: { mode: 'new' }, logPath: '/tmp/c.log' };
const image: ImageConfig = { env: [], entrypoint: [], cmd: ['/bin/sh'], workingDir: '', user: '' };
const allowed = (profile: ReturnType<typeof buildSeccompProfile>) => profile.syscalls!.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names);

describe("Docker's default seccomp profile", () => {
  it('refuses with EPERM whatever it does not allow, on x86-64 and its 32-bit ABIs', () => {
    const p = buildSeccompProfile(DEFAULT_CAPABILITIES, 'x64');
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(ALLOWED_SYSCALLS).toHaveLength(361);
  });

  it('blocks what Docker blocks for a default container: io_uring, keyrings, namespaces, mounts, modules, kexec, ptrace', () => {
    const names = allowed(buildSeccompProfile(DEFAULT_CAPABILITIES, 'x64'));
    for (const call of ['read', 'write', 'execve', 'arch_prctl', 'chroot', 'setuid']) expect(names).toContain(call);
    for (const call of ['io_uring_setup', 'keyctl', 'add_key', 'request_key', 'unshare', 'setns', 'mount', 'umount2', 'init_module', 'kexec_load', 'ptrace', 'bpf', 'reboot', 'open_by_handle_at', 'settimeofday']) {
      expect(names).not.toContain(call);
    }
  });

  it('allows clone only without namespace flags, and answers clone3 with ENOSYS, unless CAP_SYS_ADMIN', () => {
    const p = buildSeccompProfile(DEFAULT_CAPABILITIES, 'x64');
    expect(p.syscalls).toContainEqual({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    expect(p.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const admin = buildSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x64');
    expect(allowed(admin)).toEqual(expect.arrayContaining(['clone', 'clone3', 'unshare', 'mount', 'setns']));
    expect(admin.syscalls!.some((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(false);
  });

  it('allows the syscalls of each capability added, as Docker does', () => {
    const names = allowed(buildSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'], 'x64'));
    expect(names).toEqual(expect.arrayContaining(['ptrace', 'process_vm_readv', 'settimeofday', 'clock_settime']));
    expect(names).not.toContain('init_module');
  });

  it('limits personality and socket by argument', () => {
    const p = buildSeccompProfile(DEFAULT_CAPABILITIES, 'x64');
    const personas = p.syscalls!.filter((r) => r.names[0] === 'personality').map((r) => r.args![0]!.value);
    expect(personas).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
    const socket = p.syscalls!.filter((r) => r.names[0] === 'socket').map((r) => r.args![0]);
    expect(socket).toEqual([{ index: 0, value: 38, op: 'SCMP_CMP_LT' }, { index: 0, value: 39, op: 'SCMP_CMP_EQ' }, { index: 0, value: 40, op: 'SCMP_CMP_GT' }]);
  });
});

describe('seccomp in the OCI spec', () => {
  it('confines every unprivileged container by default, never a privileged one, none when unconfined', () => {
    expect(buildOciSpec(base, image).linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(buildOciSpec({ ...base, seccompProfile: 'default' }, image).linux.seccomp).toEqual(buildOciSpec(base, image).linux.seccomp);
    expect(buildOciSpec({ ...base, seccompProfile: 'unconfined' }, image).linux.seccomp).toBeUndefined();
    expect(buildOciSpec({ ...base, privileged: true }, image).linux.seccomp).toBeUndefined();
    // The capabilities the container holds decide its rules.
    expect(allowed(buildOciSpec({ ...base, capabilities: { add: ['CAP_SYS_ADMIN'], drop: [] } }, image).linux.seccomp!)).toContain('mount');
  });

  it('takes a profile file in OCI or Docker format, and refuses one that is not a profile', () => {
    const oci = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    expect(buildOciSpec({ ...base, seccompProfile: '/p.json' }, image, { seccompFile: oci }).linux.seccomp).toEqual({ ...oci, syscalls: [{ names: ['keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] });
    const docker = {
      defaultAction: 'SCMP_ACT_ERRNO',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    };
    expect(profileFromFile(docker, DEFAULT_CAPABILITIES, 'x64')).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW' }, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
    });
    let err: unknown;
    try {
      buildOciSpec({ ...base, seccompProfile: '/p.json' }, image, { seccompFile: ['not', 'a', 'profile'] });
    } catch (e) {
      err = e;
    }
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toBe('container c: the seccomp profile /p.json is not a JSON object');
  });
});
