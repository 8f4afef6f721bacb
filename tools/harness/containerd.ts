/**
 * A private containerd for tests and benchmarks: its own socket, root and state directories under a temp dir, the
 * CRI plugin disabled, logs in the temp dir. It never touches the host's containerd. It fails loudly (with the tail
 * of its log) when containerd is missing or does not come up.
 *
 * @example
 * const ctrd = await startContainerd();
 * … new ContainerdRuntime({ address: ctrd.address }) …
 * await ctrd.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { VersionClient } from '../../src/runtime/containerd/gen/containerd/services/version/v1/version.js';

/** A running private containerd. */
export interface PrivateContainerd {
  /** Socket path (give it to ContainerdRuntime as `address`). */
  address: string;
  dir: string;
  root: string;
  state: string;
  logPath: string;
  pid: number;
  /** SIGKILL (simulates a crash); `start()` brings it back on the same directories. */
  kill(): Promise<void>;
  /** Starts it again after `kill()`. */
  start(): Promise<void>;
  /** Kills and restarts it (tasks survive in their shims). */
  restart(): Promise<void>;
  /** Stops it, kills the shims it started, unmounts what it left, and removes the temp dir. */
  stop(): Promise<void>;
}

const DISABLED = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

function which(binary: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function answers(address: string, timeoutMs: number): Promise<boolean> {
  const client = new VersionClient(`unix://${address}`, credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) => {
      client.version({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err) => resolve(!err));
    });
  } finally {
    client.close();
  }
}

/** Pids of processes whose command line mentions `needle` (the shims of this instance carry its address). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** SIGKILLs every task of every namespace of the instance at `address`, and waits for them to die. */
function killAllTasks(address: string): void {
  const ctr = (...args: string[]) => spawnSync('ctr', ['-a', address, ...args], { encoding: 'utf8', timeout: 10_000 });
  const namespaces = ctr('namespaces', 'ls', '-q').stdout.split('\n').filter(Boolean);
  for (const ns of namespaces) {
    const tasks = ctr('-n', ns, 'tasks', 'ls', '-q').stdout.split('\n').filter(Boolean);
    for (const id of tasks) ctr('-n', ns, 'tasks', 'kill', '-a', '-s', 'SIGKILL', id);
    for (const id of tasks) {
      for (let i = 0; i < 50 && /RUNNING/.test(ctr('-n', ns, 'tasks', 'ls').stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? ''); i++) {
        spawnSync('sleep', ['0.05']);
      }
      ctr('-n', ns, 'tasks', 'delete', id);
    }
  }
}

/** Starts a private containerd. */
export async function startContainerd(options: { dir?: string; readyTimeoutMs?: number } = {}): Promise<PrivateContainerd> {
  const binary = which('containerd');
  if (!binary) throw new Error('containerd is not installed (apt-get install containerd runc); the integration tests need it');
  if (!which('runc')) throw new Error('runc is not installed (apt-get install runc)');
  const dir = options.dir ?? mkdtempSync('/tmp/kctrd-');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(dir, 'c.sock');
  const logPath = join(dir, 'containerd.log');
  mkdirSync(root, { recursive: true });
  mkdirSync(state, { recursive: true });
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${state}"`,
      `disabled_plugins = [${DISABLED.map((p) => `"${p}"`).join(', ')}]`,
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  level = "info"',
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  const handle: PrivateContainerd = {
    address,
    dir,
    root,
    state,
    logPath,
    pid: 0,
    async start() {
      const log = openSync(logPath, 'a');
      child = spawn(binary, ['--config', join(dir, 'config.toml')], { stdio: ['ignore', log, log], detached: false });
      handle.pid = child.pid!;
      const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`containerd exited with code ${child.exitCode}:\n${tail(logPath)}`);
        if (existsSync(address) && (await answers(address, 500))) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`containerd did not answer on ${address} within ${options.readyTimeoutMs ?? 15_000} ms:\n${tail(logPath)}`);
    },
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    async restart() {
      await handle.kill();
      await handle.start();
    },
    async stop() {
      // Tasks a test left running would outlive their shims (orphaned, pinning cgroups): kill them through the API.
      if (child && child.exitCode === null && child.signalCode === null) killAllTasks(address);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        });
      }
      // Shims outlive containerd by design; end the ones this instance started (they carry its address).
      for (const pid of processesMentioning(address)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 100));
      const mounts = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(dir))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) spawnSync('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
