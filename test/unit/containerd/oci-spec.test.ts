import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import {
  ALL_CAPABILITIES,
  buildOciSpec,
  capabilitiesFromMask,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  mergeEnv,
  namespacesFor,
  processArgs,
  processUser,
} from '../../../src/runtime/containerd/oci-spec.js';
import type { ContainerSpec, ImageConfig } from '../../../src/runtime/ports.js';

const image: ImageConfig = { env: ['PATH=/bin', 'A=image'], entrypoint: [], cmd: ['/bin/sh'], workingDir: '/srv', user: '' };
const base: ContainerSpec = { namespace: 'n', id: 's_t_c_root', image: 'img', labels: {}, cgroupsPath: '/kukeon/r/s/t/c/s_t_c_root', network: { mode: 'new' }, logPath: '/tmp/x.log', hostname: 'c' };

function kind(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isKukeError(err) ? err.kind : 'not a KukeError';
  }
  return undefined;
}

describe('the process', () => {
  it('runs the image cmd by default, and the override when given (a new entrypoint drops the image cmd)', () => {
    expect(processArgs({}, image)).toEqual(['/bin/sh']);
    expect(processArgs({ args: ['sleep', '1'] }, image)).toEqual(['sleep', '1']);
    expect(processArgs({ command: ['/bin/echo'] }, { ...image, entrypoint: ['/x'] })).toEqual(['/bin/echo']);
    expect(processArgs({ command: ['/bin/echo'], args: ['hi'] }, image)).toEqual(['/bin/echo', 'hi']);
    expect(processArgs({ args: ['-v'] }, { ...image, entrypoint: ['/x'] })).toEqual(['/x', '-v']);
  });

  it('merges env by key, the container winning, and adds a PATH only when the image has none', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['A=3'])).toEqual(['A=3', 'B=2']);
    const spec = buildOciSpec({ ...base, env: ['A=mine'] }, image);
    expect(spec.process.env).toEqual(['PATH=/bin', 'A=mine']);
    expect(buildOciSpec(base, { ...image, env: ['X=1'] }).process.env).toEqual([DEFAULT_PATH, 'X=1']);
  });

  it('works in the image working directory unless the container sets one', () => {
    expect(buildOciSpec(base, image).process.cwd).toBe('/srv');
    expect(buildOciSpec({ ...base, workingDir: '/data' }, image).process.cwd).toBe('/data');
    expect(buildOciSpec(base, { ...image, workingDir: '' }).process.cwd).toBe('/');
    expect(kind(() => buildOciSpec({ ...base, workingDir: 'rel' }, image))).toBe('InvalidArgument');
  });

  it('runs as root or a numeric uid:gid without the image files, and takes any other user as the runtime resolved it', () => {
    expect(processUser('', 'c')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(processUser('root', 'c')).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(processUser('1000:50', 'c')).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(buildOciSpec(base, { ...image, user: '65534:65534' }).process.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    // The container's user wins over the image's.
    expect(buildOciSpec({ ...base, user: '7:8' }, { ...image, user: '65534:65534' }).process.user).toMatchObject({ uid: 7, gid: 8 });
    const resolved = { uid: 33, gid: 33, additionalGids: [33, 4] };
    expect(buildOciSpec({ ...base, user: 'www-data' }, image, { user: resolved }).process.user).toEqual(resolved);
    // A name the runtime did not resolve is a bug of the caller, not the user's input.
    expect(kind(() => processUser('nobody', 'c'))).toBe('Internal');
    expect(kind(() => processUser('1000', 'c'))).toBe('Internal');
  });

  it('refuses a container with nothing to run', () => {
    expect(kind(() => buildOciSpec(base, { ...image, cmd: [] }))).toBe('InvalidArgument');
  });
});

describe('namespaces', () => {
  it('gives a root container new network, IPC and UTS namespaces and its hostname', () => {
    const spec = buildOciSpec(base, image);
    expect(spec.linux.namespaces).toEqual([{ type: 'mount' }, { type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }]);
    expect(spec.hostname).toBe('c');
  });

  it("makes a member join the root's network, IPC and UTS namespaces, without a hostname of its own", () => {
    const member = buildOciSpec({ ...base, network: { mode: 'join', path: '/proc/42/ns/net' } }, image);
    expect(member.linux.namespaces).toEqual([
      { type: 'mount' },
      { type: 'pid' },
      { type: 'network', path: '/proc/42/ns/net' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
    ]);
    expect(member.hostname).toBeUndefined();
  });

  it('joins a named network namespace by path with IPC and UTS of its own', () => {
    const spec = buildOciSpec({ ...base, network: { mode: 'join', path: '/var/run/netns/x' } }, image);
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/var/run/netns/x' });
    expect(spec.linux.namespaces).toContainEqual({ type: 'uts' });
    expect(spec.hostname).toBe('c');
    expect(kind(() => namespacesFor({ network: { mode: 'join', path: 'netns/x' } }))).toBe('InvalidArgument');
  });

  it('shares the host network (and hostname) and pid namespaces when asked, and always has a mount namespace', () => {
    const spec = buildOciSpec({ ...base, network: { mode: 'host' }, hostPid: true }, image);
    const types = spec.linux.namespaces.map((n) => n.type);
    expect(types).toEqual(['mount', 'ipc']);
    expect(spec.hostname).toBeUndefined();
  });
});

describe('mounts, cgroup and resources', () => {
  it('mounts /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only) and /run, then the user mounts', () => {
    const spec = buildOciSpec({ ...base, mounts: [{ type: 'bind', source: '/run/kukeon', target: '/run/kukeon', readOnly: true }, { type: 'tmpfs', target: '/scratch', options: ['size=1m'] }] }, image);
    expect(spec.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run', '/run/kukeon', '/scratch']);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.mounts.find((m) => m.destination === '/run/kukeon')).toEqual({ destination: '/run/kukeon', type: 'bind', source: '/run/kukeon', options: ['rbind', 'ro'] });
    expect(spec.mounts.find((m) => m.destination === '/scratch')).toMatchObject({ type: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] });
  });

  it('refuses relative mount targets, binds without an absolute source and a relative cgroup path', () => {
    expect(kind(() => buildOciSpec({ ...base, mounts: [{ type: 'tmpfs', target: 'scratch' }] }, image))).toBe('InvalidArgument');
    expect(kind(() => buildOciSpec({ ...base, mounts: [{ type: 'bind', target: '/x' }] }, image))).toBe('InvalidArgument');
    expect(kind(() => buildOciSpec({ ...base, cgroupsPath: 'kukeon/x' }, image))).toBe('InvalidArgument');
  });

  it('puts the task at its cgroup path with the limits that are set', () => {
    const spec = buildOciSpec({ ...base, resources: { memoryBytes: 1 << 26, cpuShares: 512, cpuQuotaUs: 50_000, pidsMax: 50 } }, image);
    expect(spec.linux.cgroupsPath).toBe('/kukeon/r/s/t/c/s_t_c_root');
    expect(spec.linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }], memory: { limit: 1 << 26 }, cpu: { shares: 512, quota: 50_000, period: 100_000 }, pids: { limit: 50 } });
    expect(buildOciSpec(base, image).linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
  });
});

describe('privileges', () => {
  it('confines by default: default capabilities, no new privileges, masked and read-only paths, device allow-list', () => {
    const plain = buildOciSpec(base, image);
    expect(plain.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(plain.process.noNewPrivileges).toBe(true);
    expect(plain.linux.maskedPaths).toContain('/proc/kcore');
    expect(plain.linux.readonlyPaths).toContain('/proc/sys');
    expect(plain.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
  });

  it('gives a privileged container every capability and device, a writable /sys and nothing masked', () => {
    const priv = buildOciSpec({ ...base, privileged: true }, image);
    expect(priv.process.capabilities).toEqual({ bounding: ALL_CAPABILITIES, effective: ALL_CAPABILITIES, permitted: ALL_CAPABILITIES });
    expect(priv.process.noNewPrivileges).toBe(false);
    expect(priv.linux.maskedPaths).toBeUndefined();
    expect(priv.linux.readonlyPaths).toBeUndefined();
    expect(priv.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(priv.mounts.find((m) => m.destination === '/sys')?.options).toContain('rw');
  });

  it('reads a bounding-set mask, and gives privileged containers only what the host can grant', () => {
    expect(capabilitiesFromMask('0000000000000003')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    const withoutSysResource = capabilitiesFromMask('000001fffeffffff');
    expect(withoutSysResource).not.toContain('CAP_SYS_RESOURCE');
    expect(withoutSysResource).toContain('CAP_SYS_ADMIN');
    const spec = buildOciSpec({ ...base, privileged: true }, image, { available: withoutSysResource });
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_RESOURCE');
    expect(spec.process.capabilities.bounding).toContain('CAP_NET_ADMIN');
  });

  it('adds and drops capabilities over the default set as Docker does, ALL included', () => {
    const caps = (capabilities: ContainerSpec['capabilities']) => buildOciSpec({ ...base, ...(capabilities ? { capabilities } : {}) }, image).process.capabilities;
    const added = caps({ add: ['CAP_NET_ADMIN'], drop: ['CAP_NET_RAW'] });
    expect(added.effective).toContain('CAP_NET_ADMIN');
    expect(added.effective).not.toContain('CAP_NET_RAW');
    expect(added.bounding).toEqual(added.effective);
    expect(added.permitted).toEqual(added.effective);
    expect(caps({ add: [], drop: ['ALL'] }).effective).toEqual([]);
    expect(caps({ add: ['CAP_CHOWN'], drop: ['ALL'] }).effective).toEqual(['CAP_CHOWN']);
    expect(caps({ add: ['ALL'], drop: ['CAP_SYS_ADMIN'] }).effective).toEqual(ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'));
    // A capability asked for by name stays even where the host cannot grant it: runc's refusal names it.
    const spec = buildOciSpec({ ...base, capabilities: { add: ['CAP_SYS_TIME'], drop: [] } }, image, { available: DEFAULT_CAPABILITIES });
    expect(spec.process.capabilities.effective).toContain('CAP_SYS_TIME');
  });

  it('mounts the root read-only when asked, and lets noNewPrivileges be turned off', () => {
    expect(buildOciSpec(base, image).root).toEqual({ path: 'rootfs', readonly: false });
    expect(buildOciSpec({ ...base, readOnlyRootFilesystem: true }, image).root).toEqual({ path: 'rootfs', readonly: true });
    expect(buildOciSpec({ ...base, noNewPrivileges: false }, image).process.noNewPrivileges).toBe(false);
    expect(buildOciSpec({ ...base, noNewPrivileges: true }, image).process.noNewPrivileges).toBe(true);
  });

  it("masks Docker's paths, with the host's thermal_throttle directories, and sets sysctls in key order", () => {
    const spec = buildOciSpec({ ...base, sysctls: { 'net.ipv4.ping_group_range': '0 0', 'kernel.shmmax': '65536' } }, image, { hostMaskedPaths: ['/sys/devices/system/cpu/cpu0/thermal_throttle'] });
    for (const path of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/interrupts', '/sys/firmware', '/sys/devices/virtual/powercap', '/sys/devices/system/cpu/cpu0/thermal_throttle']) {
      expect(spec.linux.maskedPaths).toContain(path);
    }
    expect(JSON.stringify(spec.linux.sysctl)).toBe('{"kernel.shmmax":"65536","net.ipv4.ping_group_range":"0 0"}');
    expect(buildOciSpec(base, image).linux.sysctl).toBeUndefined();
  });

  it('builds the same bytes for the same inputs (unchanged containers are recognised by comparing them)', () => {
    expect(JSON.stringify(buildOciSpec(base, image))).toBe(JSON.stringify(buildOciSpec({ ...base }, { ...image })));
  });
});
