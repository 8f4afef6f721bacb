/**
 * Container security settings (issue 11) against a private containerd and the real runc: what a process inside
 * sees in /proc/self/status (Uid/Gid/Groups, CapEff, NoNewPrivs, Seccomp), a syscall Docker's profile blocks, a
 * profile file, a read-only root with a writable tmpfs, a namespaced sysctl, and users named in the image's own
 * /etc/passwd (the config's User, and a name it lacks).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { DEFAULT_CAPABILITIES, capabilitiesFromMask } from '../../../src/runtime/containerd/oci-spec.js';
import type { ContainerSpec } from '../../../src/runtime/ports.js';
import { testImage, userTestImage } from '../../support/image.js';
import { busybox, logContains, useAdapterNamespace } from './helpers.js';

const fixture = useAdapterNamespace('security', () => [testImage(), userTestImage()]);
const { ns, runtime, base } = fixture;

const STATUS = 'grep -E "^(Uid|Gid|Groups|CapEff|NoNewPrivs|Seccomp):" /proc/self/status';

/** Runs `script` in a container of `extra`'s settings to its end; its output, as `{ Uid: '1000 …', … }` and lines. */
async function run(id: string, script: string, extra: Partial<ContainerSpec> = {}): Promise<{ status: Record<string, string>; log: string; exitCode: number }> {
  const spec = busybox(base, id, ['sh', '-c', `${script}; echo END`], extra);
  await runtime().createContainer(spec);
  await runtime().startTask(ns, id);
  const { exitCode } = await fixture.exits.exitOf(id);
  const log = await logContains(spec.logPath, 'END');
  await runtime().deleteTask(ns, id);
  await runtime().deleteContainer(ns, id);
  const status = Object.fromEntries([...log.matchAll(/^(\w+):\s*(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  return { status, log, exitCode };
}

const caps = (status: Record<string, string>) => capabilitiesFromMask(status.CapEff ?? '');

describe('an unprivileged container', () => {
  it("runs as root with Docker's default capabilities and no new privileges", async () => {
    const { status } = await run('plain', STATUS);
    expect(status.Uid!.split(/\s+/)).toEqual(['0', '0', '0', '0']);
    expect(caps(status).sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(status.NoNewPrivs).toBe('1');
    // Docker's default seccomp profile (filter mode).
    expect(status.Seccomp).toBe('2');
  });

  it("refuses what Docker's seccomp profile blocks (a user namespace), and runs unconfined when asked", async () => {
    const probe = 'unshare -U true && echo UNSHARE-OK || echo UNSHARE-REFUSED';
    const confined = await run('seccomp', `${STATUS}; ${probe}`);
    expect(confined.log).toContain('UNSHARE-REFUSED');
    const unconfined = await run('unconfined', `${STATUS}; ${probe}`, { seccompProfile: 'unconfined' });
    expect(unconfined.status.Seccomp).toBe('0');
    expect(unconfined.log).toContain('UNSHARE-OK');
  });

  it('applies a profile file (Docker format) given by path, and refuses one that is not JSON', async () => {
    const profile = join(fixture.logDir, 'no-mkdir.json');
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
    const { status, log } = await run('profile', `${STATUS}; mkdir /tmp/d && echo MKDIR-OK || echo MKDIR-REFUSED`, { seccompProfile: profile });
    expect(status.Seccomp).toBe('2');
    expect(log).toContain('MKDIR-REFUSED');
    const broken = join(fixture.logDir, 'broken.json');
    writeFileSync(broken, '{not json');
    const err = await runtime().createContainer(busybox(base, 'broken', ['true'], { seccompProfile: broken })).catch((e: unknown) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toBe(`container broken: the seccomp profile ${broken} is not valid JSON`);
  });

  it('gets the capabilities added and loses those dropped, ALL included', async () => {
    const added = await run('capadd', STATUS, { capabilities: { add: ['CAP_NET_ADMIN', 'CAP_SYS_TIME'], drop: ['CAP_NET_RAW'] } });
    expect(caps(added.status)).toContain('CAP_NET_ADMIN');
    expect(caps(added.status)).toContain('CAP_SYS_TIME');
    expect(caps(added.status)).not.toContain('CAP_NET_RAW');
    const only = await run('capdrop', STATUS, { capabilities: { add: ['CAP_CHOWN'], drop: ['ALL'] } });
    expect(caps(only.status)).toEqual(['CAP_CHOWN']);
  });

  it('runs as the user and group asked for by number, and may turn no-new-privileges off', async () => {
    const { status } = await run('numeric', STATUS, { user: '4242:4343', noNewPrivileges: false });
    expect(status.Uid!.split(/\s+/)).toEqual(['4242', '4242', '4242', '4242']);
    expect(status.Gid!.split(/\s+/)).toEqual(['4343', '4343', '4343', '4343']);
    expect(status.Groups).toBe('4343');
    // A non-root process keeps no effective capability, as under Docker.
    expect(caps(status)).toEqual([]);
    expect(status.NoNewPrivs).toBe('0');
  });

  it('cannot write its read-only root, but can write a tmpfs mounted for it', async () => {
    const { log } = await run(
      'readonly',
      'touch /root-file 2>/dev/null && echo ROOT-WRITABLE || echo ROOT-READONLY; touch /scratch/f && echo TMPFS-WRITABLE; touch /run/f && echo RUN-WRITABLE',
      { readOnlyRootFilesystem: true, mounts: [{ type: 'tmpfs', target: '/scratch', options: ['noexec'] }] },
    );
    expect(log).toContain('ROOT-READONLY');
    expect(log).not.toContain('ROOT-WRITABLE');
    expect(log).toContain('TMPFS-WRITABLE');
    expect(log).toContain('RUN-WRITABLE');
  });

  it('sees the namespaced sysctls it sets, and masked paths empty', async () => {
    const { log } = await run('sysctl', 'echo "shmmax=$(cat /proc/sys/kernel/shmmax)"; echo "interrupts=$(wc -c < /proc/interrupts)"', { sysctls: { 'kernel.shmmax': '65536' } });
    expect(log).toContain('shmmax=65536');
    // The host's /proc/interrupts has a line per CPU; the container's is masked (Docker's GHSA-6fw5-f8r9-fgfm).
    expect(log).toContain('interrupts=0');
  });
});

describe("users named in the image's /etc/passwd", () => {
  it("runs as the image config's named User, with its group and supplementary groups", async () => {
    const { status } = await run('imageuser', STATUS, { image: userTestImage().ref });
    expect(status.Uid!.split(/\s+/)[0]).toBe('1000');
    expect(status.Gid!.split(/\s+/)[0]).toBe('1000');
    expect(status.Groups!.split(/\s+/).sort()).toEqual(['1000', '50']);
  });

  it('resolves user:group names given by the container', async () => {
    const { status } = await run('named', STATUS, { image: userTestImage().ref, user: 'nobody:staff' });
    expect(status.Uid!.split(/\s+/)[0]).toBe('65534');
    expect(status.Gid!.split(/\s+/)[0]).toBe('50');
  });

  it('refuses a user the image does not define, naming the user and the image', async () => {
    const err = await runtime()
      .createContainer(busybox(base, 'nouser', ['true'], { image: userTestImage().ref, user: 'www-data' }))
      .catch((e: unknown) => e);
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toBe(`user "www-data" is not in the /etc/passwd of image ${userTestImage().ref}`);
    expect(await runtime().getContainer(ns, 'nouser')).toBeNull();
  });
});
