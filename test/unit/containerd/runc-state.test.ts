import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Options as RuncOptions } from '../../../src/runtime/containerd/gen/containerd/runc/v1/options.js';
import { isKukeError } from '../../../src/errors.js';
import { clearStaleRuncState, DEFAULT_RUNC_ROOT, processStartTime, runcRootOf, shimParentOf } from '../../../src/runtime/containerd/runc-state.js';
import { waitFor } from '../../support/wait.js';

const root = mkdtempSync(join(tmpdir(), 'kukeon-runc-state-'));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A state dir as runc leaves it, for `init` (pid and start time). */
function stateOf(id: string, init?: { pid: number; start: number | undefined }): string {
  const dir = join(root, 'ns', id);
  mkdirSync(dir, { recursive: true });
  if (init) writeFileSync(join(dir, 'state.json'), JSON.stringify({ id, init_process_pid: init.pid, init_process_start: init.start }));
  return dir;
}

function sleeper(): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

describe("runc's stale state", () => {
  it('reads a live process start time, and none for a missing pid', () => {
    expect(processStartTime(process.pid)).toBeGreaterThan(0);
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined();
  });

  it('is nothing to clear when runc holds no state for the id', async () => {
    expect(await clearStaleRuncState(root, 'ns', 'absent')).toBe('none');
  });

  it('is removed when its init is gone, and when it has no state file at all', async () => {
    const gone = stateOf('gone', { pid: 2 ** 22 + 1, start: 12345 });
    expect(await clearStaleRuncState(root, 'ns', 'gone')).toBe('removed');
    expect(existsSync(gone)).toBe(false);
    const bare = stateOf('bare');
    expect(await clearStaleRuncState(root, 'ns', 'bare')).toBe('removed');
    expect(existsSync(bare)).toBe(false);
  });

  it('never kills a process that only reuses the recorded pid (another start time)', async () => {
    const pid = sleeper();
    await waitFor(async () => processStartTime(pid), (s) => s !== undefined, { timeoutMs: 2_000, what: 'the sleeper' });
    stateOf('reused', { pid, start: processStartTime(pid)! - 1 });
    expect(await clearStaleRuncState(root, 'ns', 'reused')).toBe('removed');
    expect(processStartTime(pid)).toBeDefined();
  });

  it('kills the init that outlived its shim, then removes the state', async () => {
    const pid = sleeper();
    await waitFor(async () => processStartTime(pid), (s) => s !== undefined, { timeoutMs: 2_000, what: 'the sleeper' });
    const dir = stateOf('outlived', { pid, start: processStartTime(pid) });
    expect(await clearStaleRuncState(root, 'ns', 'outlived')).toBe('killed');
    expect(processStartTime(pid)).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses to touch a container another containerd's live shim still runs (same runc root, namespace and id)", async () => {
    const script = join(root, 'containerd-shim-fake');
    writeFileSync(script, '#!/bin/sh\nsleep 30 &\necho $!\nwait\n', { mode: 0o755 });
    const shim = spawn(script, [], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(shim);
    const pid = Number(await new Promise<string>((resolve) => shim.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    try {
      expect(shimParentOf(pid)).toBe(shim.pid);
      const dir = stateOf('managed', { pid, start: processStartTime(pid) });
      const err = await clearStaleRuncState(root, 'ns', 'managed').catch((e: unknown) => e);
      expect(isKukeError(err, 'FailedPrecondition')).toBe(true);
      expect(processStartTime(pid)).toBeDefined();
      expect(existsSync(dir)).toBe(true);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it("is looked for under the root the container was created with, else runc's default", () => {
    const withRoot = { runtime: { name: 'io.containerd.runc.v2', options: { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from(RuncOptions.encode({ root: '/tmp/r' }).finish()) } } };
    expect(runcRootOf(withRoot as never)).toBe('/tmp/r');
    expect(runcRootOf({ runtime: { name: 'io.containerd.runc.v2' } } as never)).toBe(DEFAULT_RUNC_ROOT);
  });
});
