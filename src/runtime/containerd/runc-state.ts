/**
 * runc's state of a container whose shim is gone. When containerd and the shims die without a reboot (a crash, an
 * OOM kill, `kill -9` of everything), runc's state directory `<root>/<namespace>/<id>` stays on the tmpfs, and runc
 * refuses every later task of that container: "container with given ID already exists". containerd then reports no
 * task, so nothing else would ever clear it. This module clears it, and only when containerd has no task for the
 * container: the container's init process, if it still runs without a shim, is killed first (nobody can wait for
 * it any more, and it would hold the container's cgroup and netns), then the directory is removed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Container } from './gen/containerd/services/containers/v1/containers.js';
import { Options as RuncOptions } from './gen/containerd/runc/v1/options.js';

/** runc's state root when the container's runtime options name none (the runc v2 shim's default). */
export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

/** What {@link clearStaleRuncState} found and did. */
export type StaleRuncState = 'none' | 'removed' | 'killed';

/** How long the killed init may take to disappear. */
const KILL_WAIT_MS = 5_000;

/** The runc root a container was created with (its runtime options), or runc's default. */
export function runcRootOf(container: Container): string {
  const value = container.runtime?.options?.value;
  if (!value || value.length === 0) return DEFAULT_RUNC_ROOT;
  return RuncOptions.decode(value).root || DEFAULT_RUNC_ROOT;
}

/**
 * The fields of /proc/<pid>/stat after the command name, which may hold spaces and parentheses (so they are counted
 * after the last ')'): index 0 is the state (field 3 of proc(5)). Undefined when the process is gone.
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * The start time (clock ticks after boot) of a live process, undefined once it is gone (or a zombie). Together with
 * the pid it names a process: a recycled pid has another start time.
 */
export function processStartTime(pid: number): number | undefined {
  const fields = statFields(pid);
  // A zombie is dead; only its parent's wait is missing.
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return undefined;
  const start = Number(fields[19]); // starttime, field 22
  return Number.isFinite(start) ? start : undefined;
}

/** The pid of the containerd shim that is `pid`'s parent, if its parent is one. */
export function shimParentOf(pid: number): number | undefined {
  const ppid = Number(statFields(pid)?.[1]); // ppid, field 4
  if (!Number.isInteger(ppid) || ppid <= 1) return undefined;
  try {
    return readFileSync(`/proc/${ppid}/comm`, 'utf8').startsWith('containerd-shim') ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Clears runc's leftover state of a container that containerd holds no task for. Call it only after containerd has
 * said so. Idempotent: 'none' when there is nothing to clear.
 */
export async function clearStaleRuncState(root: string, namespace: string, id: string, logger?: Logger): Promise<StaleRuncState> {
  const dir = join(root, namespace, id);
  if (!existsSync(dir)) return 'none';
  let state: { init_process_pid?: unknown; init_process_start?: unknown } | undefined;
  try {
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as typeof state;
  } catch {
    // No state file, or one runc died writing: the directory alone still makes runc refuse the id.
    state = undefined;
  }
  let outcome: StaleRuncState = 'removed';
  const pid = typeof state?.init_process_pid === 'number' ? state.init_process_pid : undefined;
  if (pid !== undefined && pid > 0 && processStartTime(pid) === state?.init_process_start) {
    // Still the child of a live shim: another containerd on this host runs it (same runc root, namespace and id).
    // Not ours to kill; runc would refuse the id anyway.
    const shim = shimParentOf(pid);
    if (shim !== undefined) {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} in ${namespace} already runs under another shim (pid ${shim}) sharing runc's state root ${root}`, {
        hint: 'give each containerd its own runc root (--runc-root), or stop the other one',
      });
    }
    logger?.warn({ namespace, id, pid }, 'the container init outlived its shim; killing it');
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    const deadline = Date.now() + KILL_WAIT_MS;
    while (processStartTime(pid) === state?.init_process_start) {
      if (Date.now() > deadline) {
        throw new KukeError(ErrorKind.FailedPrecondition, `the init process ${pid} of container ${id} in ${namespace} outlived its shim and does not die`, {
          hint: `look at /proc/${pid}/status (a process stuck in D state waits for I/O); kill it, then retry`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    outcome = 'killed';
  }
  rmSync(dir, { recursive: true, force: true });
  logger?.warn({ namespace, id, dir, outcome }, "cleared runc's state of a container whose shim is gone");
  return outcome;
}
