/**
 * A private containerd for tests and benchmarks: its own grpc and ttrpc sockets, root and state directories under a
 * temp dir, a version-2 config with the CRI plugin (and the snapshotters and runtime we never use) disabled, and its
 * log in the temp dir. It never touches the host's containerd (/run/containerd). It fails loudly, with the tail of
 * its log, when containerd is missing or does not come up.
 *
 * `stop()` leaves nothing of this instance: it kills and deletes the tasks still running, stops containerd (SIGTERM,
 * then SIGKILL), kills the shims it started (they outlive containerd by design), unmounts what is left under its
 * directory and removes it. cgroups that runc created for tasks are the caller's (it chose their paths).
 *
 * @example
 * const ctrd = await startContainerd();
 * const rt = new ContainerdRuntime({ address: ctrd.address, runcRoot: ctrd.runcRoot });
 * …
 * rt.close();
 * await ctrd.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerdRuntime } from '../../src/runtime/containerd/runtime.js';

/** A running private containerd. */
export interface PrivateContainerd {
  /** grpc socket path (give it to ContainerdRuntime as `address`). */
  readonly address: string;
  /** The temp dir holding everything below. */
  readonly dir: string;
  /** containerd's root (content, snapshots, metadata). */
  readonly root: string;
  /** containerd's state (sockets, bundles of running tasks). */
  readonly state: string;
  /** containerd's log file. */
  readonly logPath: string;
  /**
   * A runc state root of this instance's own: give it to ContainerdRuntime as `runcRoot`, so runc's state does not
   * land in the host's /run/containerd/runc (shared with every other containerd) and goes with the temp dir.
   */
  readonly runcRoot: string;
  /** Pid of the current containerd process (changes on restart). */
  readonly pid: number;
  /** SIGKILLs containerd (a crash); shims and tasks keep running. `start()` brings it back on the same dirs. */
  kill(): Promise<void>;
  /** Starts containerd again after `kill()`. */
  start(): Promise<void>;
  /** `kill()` then `start()`: tasks survive in their shims and are found again. */
  restart(): Promise<void>;
  /**
   * After `kill()`: SIGKILLs this instance's shims and empties containerd's state dir (unmounting what is mounted
   * there), as when containerd's tmpfs state is lost. Task processes and runc's state (`runcRoot`) are left alone.
   */
  loseState(): Promise<void>;
  /** Stops everything of this instance and removes its directory. */
  stop(): Promise<void>;
}

/** Options of {@link startContainerd}. */
export interface StartOptions {
  /** Directory to use (created if missing); default a fresh `/tmp/kctrd-XXXXXX`. Keep it short: unix socket paths. */
  dir?: string;
  /** How long to wait for containerd to answer; default 15 s. */
  readyTimeoutMs?: number;
  /** containerd's log level; default `info`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** Plugins we never use: CRI (slow to start, and it would manage its own networks) and the other snapshotters. (Not the v1 runtime: containerd 1.6's tasks service needs it loaded.) */
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
];
/** The kernel's limit on a unix socket path (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

function which(binary: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Pids of processes whose command line mentions `needle` (the shims of this instance carry its address). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Init processes of the tasks in this instance's state dir (`io.containerd.runtime.v2.task/<ns>/<id>/init.pid`),
 * only those still in the task's cgroup (a recycled pid is someone else's process).
 */
function orphanedTasks(state: string): number[] {
  const tasks = join(state, 'io.containerd.runtime.v2.task');
  const pids: number[] = [];
  if (!existsSync(tasks)) return pids;
  for (const ns of readdirSync(tasks)) {
    for (const id of readdirSync(join(tasks, ns))) {
      const bundle = join(tasks, ns, id);
      try {
        const pid = Number(readFileSync(join(bundle, 'init.pid'), 'utf8').trim());
        const cgroup = (JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: string } }).linux?.cgroupsPath;
        const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
        if (pid > 0 && cgroup && lines.some((l) => l.endsWith(`:${cgroup}`))) pids.push(pid);
      } catch {
        // no pid file, or the process is gone
      }
    }
  }
  return pids;
}

/** Kills and deletes every task of every namespace, through the API (the shims then exit by themselves). */
async function removeAllTasks(address: string): Promise<void> {
  // No runcRoot needed: deleting a task uses the options it was created with.
  const rt = new ContainerdRuntime({ address, callTimeoutMs: 10_000 });
  try {
    for (const { name } of await rt.listNamespaces()) {
      for (const task of await rt.listTasks(name)) {
        if (task.status !== 'stopped') await rt.stopTask(name, task.id, { signal: 'SIGKILL' }).catch(() => undefined);
        await rt.deleteTask(name, task.id).catch(() => undefined);
      }
    }
  } finally {
    rt.close();
  }
}

/** Whether containerd answers a Version call within `timeoutMs`. */
async function answers(address: string, timeoutMs: number): Promise<boolean> {
  const rt = new ContainerdRuntime({ address, callTimeoutMs: timeoutMs });
  try {
    await rt.version();
    return true;
  } catch {
    return false;
  } finally {
    rt.close();
  }
}

/** SIGKILLs each pid (processes this harness or its test started); one already gone is fine. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Lazily unmounts every mount at or below `path`, deepest first. */
function unmountUnder(path: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === path || m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

function exited(child: ChildProcess | undefined): boolean {
  return !child || child.exitCode !== null || child.signalCode !== null;
}

/** Starts a private containerd and waits until it answers. */
export async function startContainerd(options: StartOptions = {}): Promise<PrivateContainerd> {
  const binary = which('containerd');
  if (!binary) throw new Error('containerd is not installed (apt-get install containerd runc); the integration tests need it');
  if (!which('runc')) throw new Error('runc is not installed (apt-get install runc); the integration tests need it');
  if (process.getuid?.() !== 0) throw new Error('a private containerd needs root (it mounts overlays and runs runc)');
  const dir = options.dir ?? mkdtempSync('/tmp/kctrd-');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'c.sock');
  const logPath = join(dir, 'containerd.log');
  const runcRoot = join(dir, 'runc');
  const config = join(dir, 'config.toml');
  if (Buffer.byteLength(`${address}.ttrpc`) > MAX_SOCKET_PATH) throw new Error(`socket path ${address}.ttrpc is longer than ${MAX_SOCKET_PATH} bytes; use a shorter dir`);
  mkdirSync(root, { recursive: true });
  mkdirSync(state, { recursive: true });
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${state}"`,
      `disabled_plugins = [${DISABLED_PLUGINS.map((p) => `"${p}"`).join(', ')}]`,
      '',
      '[grpc]',
      `  address = "${address}"`,
      '',
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '',
      '[debug]',
      `  level = "${options.logLevel ?? 'info'}"`,
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  // If the test process dies without stop(), do not leave a containerd running.
  const onExit = () => {
    if (!exited(child)) child!.kill('SIGKILL');
  };
  process.on('exit', onExit);

  const handle = {
    address,
    dir,
    root,
    state,
    logPath,
    runcRoot,
    pid: 0,
    async start() {
      if (!exited(child)) throw new Error(`containerd ${handle.pid} is still running`);
      const log = openSync(logPath, 'a');
      try {
        child = spawn(binary, ['--config', config], { stdio: ['ignore', log, log] });
      } finally {
        closeSync(log);
      }
      const started = child;
      handle.pid = started.pid ?? 0;
      const timeout = options.readyTimeoutMs ?? 15_000;
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline) {
        if (exited(started)) throw new Error(`containerd exited (code ${started.exitCode}, signal ${started.signalCode}) at start:\n${tail(logPath)}`);
        if (existsSync(address) && (await answers(address, 500))) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      started.kill('SIGKILL');
      throw new Error(`containerd did not answer on ${address} within ${timeout} ms:\n${tail(logPath)}`);
    },
    async kill() {
      const c = child;
      if (exited(c)) return;
      await new Promise<void>((resolve) => {
        c!.once('exit', () => resolve());
        c!.kill('SIGKILL');
      });
    },
    async restart() {
      await handle.kill();
      await handle.start();
    },
    async loseState() {
      if (!exited(child)) throw new Error('loseState() needs containerd killed first');
      const shims = processesMentioning(address);
      killAll(shims);
      const deadline = Date.now() + 5_000;
      while (shims.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      unmountUnder(state);
      rmSync(state, { recursive: true, force: true });
      mkdirSync(state, { recursive: true });
    },
    async stop() {
      try {
        // Tasks left running would outlive their shims (orphaned, pinning cgroups and mounts).
        if (!exited(child)) await removeAllTasks(address).catch(() => undefined);
        const c = child;
        if (!exited(c)) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => c!.kill('SIGKILL'), 5_000);
            c!.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c!.kill('SIGTERM');
          });
        }
        // Tasks whose containerd was killed and never came back: their init processes, then the shims this instance
        // started (they carry its address as an argument). A task outlives its killed shim otherwise.
        killAll([...orphanedTasks(state), ...processesMentioning(address)]);
        await new Promise((r) => setTimeout(r, 100));
        unmountUnder(dir);
        rmSync(dir, { recursive: true, force: true });
      } finally {
        process.off('exit', onExit);
      }
    },
  };
  await handle.start();
  return handle;
}
