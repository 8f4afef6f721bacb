import { describe, expect, it } from 'vitest';
import { chainIds } from '../../../src/runtime/containerd/images.js';
import { ALL_CAPABILITIES, buildOciSpec, DEFAULT_CAPABILITIES, mergeEnv, processArgs } from '../../../src/runtime/containerd/oci-spec.js';
import type { ContainerSpec, ImageConfig } from '../../../src/runtime/ports.js';
import { isKukeError } from '../../../src/errors.js';

const image: ImageConfig = { env: ['PATH=/bin', 'A=image'], entrypoint: [], cmd: ['/bin/sh'], workingDir: '/srv', user: '' };
const base: ContainerSpec = { namespace: 'n', id: 's_t_c_root', image: 'img', labels: {}, cgroupsPath: '/kukeon/r/s/t/c/s_t_c_root', network: { mode: 'new' }, logPath: '/tmp/x.log', hostname: 'c' };

describe('OCI spec', () => {
  it('runs the image cmd by default, and the override when given (a new entrypoint drops the image cmd)', () => {
    expect(processArgs({}, image)).toEqual(['/bin/sh']);
    expect(processArgs({ args: ['sleep', '1'] }, image)).toEqual(['sleep', '1']);
    expect(processArgs({ command: ['/bin/echo'] }, { ...image, entrypoint: ['/x'] })).toEqual(['/bin/echo']);
    expect(processArgs({ command: ['/bin/echo'], args: ['hi'] }, image)).toEqual(['/bin/echo', 'hi']);
  });

  it('merges env by key, the container winning', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['A=3'])).toEqual(['A=3', 'B=2']);
    const spec = buildOciSpec({ ...base, env: ['A=mine'] }, image) as { process: { env: string[]; cwd: string } };
    expect(spec.process.env).toEqual(['PATH=/bin', 'A=mine']);
    expect(spec.process.cwd).toBe('/srv');
  });

  it('gives a root container new network and UTS namespaces and its hostname; a member joins the root\'s', () => {
    const root = buildOciSpec(base, image) as { linux: { namespaces: { type: string; path?: string }[] }; hostname?: string };
    expect(root.linux.namespaces).toEqual(expect.arrayContaining([{ type: 'network' }, { type: 'uts' }, { type: 'mount' }, { type: 'pid' }]));
    expect(root.hostname).toBe('c');
    const member = buildOciSpec({ ...base, network: { mode: 'join', path: '/proc/42/ns/net' } }, image) as typeof root;
    expect(member.linux.namespaces).toEqual(expect.arrayContaining([{ type: 'network', path: '/proc/42/ns/net' }, { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts', path: '/proc/42/ns/uts' }]));
    expect(member.hostname).toBeUndefined();
  });

  it('shares the host network and pid namespaces when asked', () => {
    const spec = buildOciSpec({ ...base, network: { mode: 'host' }, hostPid: true }, image) as { linux: { namespaces: { type: string }[] } };
    const types = spec.linux.namespaces.map((n) => n.type);
    expect(types).not.toContain('network');
    expect(types).not.toContain('pid');
    expect(types).toContain('mount');
  });

  it('is confined by default and fully privileged only when asked', () => {
    const plain = buildOciSpec(base, image) as { process: { capabilities: { bounding: string[] }; noNewPrivileges: boolean }; linux: { maskedPaths?: string[]; resources: { devices: { allow: boolean }[] } } };
    expect(plain.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(plain.process.noNewPrivileges).toBe(true);
    expect(plain.linux.maskedPaths).toContain('/proc/kcore');
    expect(plain.linux.resources.devices[0]?.allow).toBe(false);
    const priv = buildOciSpec({ ...base, privileged: true }, image) as typeof plain;
    expect(priv.process.capabilities.bounding).toEqual(ALL_CAPABILITIES);
    expect(priv.linux.maskedPaths).toBeUndefined();
    expect(priv.linux.resources.devices[0]?.allow).toBe(true);
  });

  it('turns limits and mounts into the spec', () => {
    const spec = buildOciSpec({ ...base, resources: { memoryBytes: 1 << 26, cpuShares: 512, pidsMax: 50 }, mounts: [{ type: 'bind', source: '/run/kukeon', target: '/run/kukeon' }, { type: 'tmpfs', target: '/scratch', readOnly: false }] }, image) as {
      linux: { resources: Record<string, unknown> };
      mounts: { destination: string; type: string; options: string[] }[];
    };
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 1 << 26 }, cpu: { shares: 512 }, pids: { limit: 50 } });
    expect(spec.mounts.find((m) => m.destination === '/run/kukeon')).toMatchObject({ type: 'bind', options: ['rbind', 'rw'] });
    expect(spec.mounts.find((m) => m.destination === '/scratch')?.type).toBe('tmpfs');
  });

  it('refuses a container with nothing to run', () => {
    let error: unknown;
    try {
      buildOciSpec(base, { ...image, cmd: [] });
    } catch (err) {
      error = err;
    }
    expect(isKukeError(error, 'InvalidArgument')).toBe(true);
  });

  it('computes chain ids as containerd does', () => {
    const a = 'sha256:' + 'a'.repeat(64);
    const b = 'sha256:' + 'b'.repeat(64);
    const [first, second] = chainIds([a, b]);
    expect(first).toBe(a);
    expect(second).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(second).not.toBe(b);
  });
});

describe('capabilities the host can grant', () => {
  it('reads a bounding-set mask, and gives privileged containers only those', async () => {
    const { capabilitiesFromMask } = await import('../../../src/runtime/containerd/oci-spec.js');
    expect(capabilitiesFromMask('0000000000000003')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    const withoutSysResource = capabilitiesFromMask('000001fffeffffff');
    expect(withoutSysResource).not.toContain('CAP_SYS_RESOURCE');
    expect(withoutSysResource).toContain('CAP_SYS_ADMIN');
    const spec = buildOciSpec({ ...base, privileged: true }, image, { available: withoutSysResource }) as { process: { capabilities: { bounding: string[] } } };
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(spec.process.capabilities.bounding).toContain('CAP_NET_ADMIN');
  });
});
