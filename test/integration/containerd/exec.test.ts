/**
 * Processes exec'd into a running container through the containerd adapter, against a private containerd and the
 * real runc shim: output and exit codes through the FIFOs, stdin to end of file, a pseudo terminal with its size,
 * the container's env and cwd with overrides, typed refusals for commands that cannot run, and nothing left behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { ContainerdRuntime } from '../../../src/runtime/containerd/runtime.js';
import type { ExecSession, ExecSpec } from '../../../src/runtime/ports.js';
import { useContainerdRuntime } from '../../support/containerd.js';
import { removeCgroupTree, testCgroupRoot } from '../../support/cgroup-root.js';
import { testImage } from '../../support/image.js';
import { busybox } from './helpers.js';

const suffix = 'exec.test.kukeon.io';
const ns = `r1.${suffix}`;
const ioDir = mkdtempSync(join(tmpdir(), 'kukeon-exec-io-'));
const { ctrd, runtime } = useContainerdRuntime({ namespaceSuffix: suffix, execIoDir: ioDir });
const cgroupRoot = testCgroupRoot();
const logDir = mkdtempSync(join(tmpdir(), 'kukeon-exec-'));
const base = { namespace: ns, image: testImage().ref, cgroupRoot, logDir };

beforeAll(async () => {
  await runtime().importImage(ns, testImage().path);
  await runtime().createContainer(busybox(base, 'box', ['sleep', '300'], { env: ['GREETING=hello'], workingDir: '/etc' }));
  await runtime().startTask(ns, 'box');
}, 60_000);

afterAll(async () => {
  try {
    for (const c of await runtime().listContainers(ns)) {
      await runtime().stopTask(ns, c.id, { signal: 'SIGKILL' });
      await runtime().deleteTask(ns, c.id);
      await runtime().deleteContainer(ns, c.id);
    }
  } finally {
    rmSync(logDir, { recursive: true, force: true });
    rmSync(ioDir, { recursive: true, force: true });
    removeCgroupTree(cgroupRoot);
  }
});

function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** Runs a process to its end: its output and exit code, everything released. */
async function run(spec: Partial<ExecSpec> & { args: string[] }, input?: (s: ExecSession) => Promise<void>) {
  const session = await runtime().execProcess(ns, 'box', { stdin: false, tty: false, ...spec });
  try {
    const out = text(session.stdout);
    const err = text(session.stderr);
    await input?.(session);
    const code = await session.exited;
    return { code, stdout: await out, stderr: await err, session };
  } finally {
    await session.close();
  }
}

describe('exec in a running container', () => {
  it('relays stdout and stderr apart, and the exit code', async () => {
    const r = await run({ args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(r.session.execId).toMatch(/^exec-[0-9a-f]{16}$/);
  });

  it('exits 0 for a command that succeeds, and removes its FIFOs', async () => {
    const r = await run({ args: ['true'] });
    expect(r.code).toBe(0);
    expect(existsSync(join(ioDir, r.session.execId))).toBe(false);
    expect(readdirSync(ioDir)).toEqual([]);
  });

  it('runs with the container env and cwd, and the overrides given', async () => {
    expect((await run({ args: ['sh', '-c', 'echo $GREETING $EXTRA; pwd'] })).stdout).toBe('hello\n/etc\n');
    expect((await run({ args: ['sh', '-c', 'echo $GREETING $EXTRA; pwd; id -u'], env: ['GREETING=hi', 'EXTRA=x'], cwd: '/tmp', user: '1000:1000' })).stdout).toBe('hi x\n/tmp\n1000\n');
  });

  it('feeds stdin until it is closed', async () => {
    const r = await run({ args: ['sh', '-c', 'cat; echo done'], stdin: true }, async (s) => {
      s.stdin!.write('line one\n');
      s.stdin!.write('line two\n');
      await s.closeStdin();
    });
    expect(r).toMatchObject({ code: 0, stdout: 'line one\nline two\ndone\n' });
  });

  it('gives a pseudo terminal of the size asked, its output on stdout', async () => {
    const r = await run({ args: ['sh', '-c', 'tty; stty size'], tty: true, size: { cols: 91, rows: 37 } });
    expect(r.code).toBe(0);
    expect(r.session.stderr).toBeUndefined();
    expect(r.stdout.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/\d+\n37 91\n$/);
  });

  it('resizes the terminal while the process runs', async () => {
    const r = await run({ args: ['sh', '-c', 'read x; stty size'], tty: true, stdin: true, size: { cols: 80, rows: 24 } }, async (s) => {
      await s.resize({ cols: 120, rows: 50 });
      s.stdin!.write('go\r');
    });
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\r/g, '')).toContain('50 120\n');
  });

  it('reports a death by signal as 128+N', async () => {
    const r = await run({ args: ['sh', '-c', 'kill -KILL $$'] });
    expect(r.code).toBe(137);
  });

  it('refuses a command that does not exist (NotFound) and one that is not executable (PermissionDenied), leaving nothing', async () => {
    const missing = await runtime().execProcess(ns, 'box', { args: ['no-such-command'], stdin: false, tty: false }).catch((e: unknown) => e);
    expect(isKukeError(missing, ErrorKind.NotFound)).toBe(true);
    const notExecutable = await runtime().execProcess(ns, 'box', { args: ['/etc/passwd'], stdin: false, tty: false }).catch((e: unknown) => e);
    expect(isKukeError(notExecutable, ErrorKind.PermissionDenied)).toBe(true);
    expect(readdirSync(ioDir)).toEqual([]);
  });

  it('refuses a container whose task does not run (FailedPrecondition)', async () => {
    await runtime().createContainer(busybox(base, 'idle', ['sleep', '300']));
    const err = await runtime().execProcess(ns, 'idle', { args: ['true'], stdin: false, tty: false }).catch((e: unknown) => e);
    expect(isKukeError(err, ErrorKind.FailedPrecondition)).toBe(true);
  });

  it('reaps, at the next daemon start, a process whose relay died with its daemon: killed, released, FIFOs gone', async () => {
    const orphan = await runtime().execProcess(ns, 'box', { args: ['sleep', '300'], stdin: true, tty: false });
    expect(readdirSync(ioDir)).toEqual([orphan.execId]);
    // A new daemon's adapter over the same FIFO directory; the old one is gone without closing anything.
    const next = new ContainerdRuntime({ address: ctrd().address, runcRoot: ctrd().runcRoot, namespaceSuffix: suffix, execIoDir: ioDir });
    try {
      expect(await next.reapExecs()).toEqual([{ namespace: ns, id: 'box', execId: orphan.execId, exitCode: 137 }]);
      expect(readdirSync(ioDir)).toEqual([]);
      expect(await orphan.exited).toBe(137);
      expect(await next.reapExecs()).toEqual([]);
    } finally {
      next.close();
      await orphan.close();
    }
  });

  it('kills a process still running when it is closed', async () => {
    const session = await runtime().execProcess(ns, 'box', { args: ['sleep', '300'], stdin: false, tty: false });
    session.stdout.resume();
    session.stderr?.resume();
    await session.close();
    expect(await session.exited).toBe(137);
    expect(readdirSync(ioDir)).toEqual([]);
  });
});
