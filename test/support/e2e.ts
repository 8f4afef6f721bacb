/**
 * End-to-end host: `kuke` and `kukeond` as processes (the built dist/ bundles), against a private containerd, in
 * a temp run path with a test-only socket, cgroup root, namespace suffix, pod subnet and CNI state. The daemon runs
 * in its cell, as in production. `cleanup()` tears it all down.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { buildTestImage } from '../../tools/build-test-image.js';
import { startContainerd, type PrivateContainerd } from '../../tools/harness/containerd.js';
import { networkName } from '../../src/model/names.js';
import { applyIsolation } from '../../src/runtime/cni/isolation.js';
import { INSTANCE_FILE } from '../../src/runtime/cni/ownership.js';
import { namesOf } from './documents.js';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const KUKE = join(repo, 'dist', 'kuke.mjs');

/** What a kuke invocation did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** An isolated host. */
export interface E2eHost {
  ctrd: PrivateContainerd;
  dir: string;
  runPath: string;
  socket: string;
  cgroupRoot: string;
  suffix: string;
  env: NodeJS.ProcessEnv;
  testImage: { path: string; ref: string };
  /** Filesystems a test mounted inside `dir`: unmounted by cleanup after the teardown, before `dir` is removed. */
  mounts: string[];
  /** Runs kuke through the daemon (no run path). */
  kuke(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv; user?: string }): Promise<RunResult>;
  /** Runs kuke in-process on this host's run path. */
  local(args: string[], options?: { input?: string }): Promise<RunResult>;
  /** The daemon's pid (from its pid file). */
  daemonPid(): number;
  cleanup(): Promise<void>;
}

export function runNode(args: string[], env: NodeJS.ProcessEnv, input?: string, user?: string): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    // `user` or `user:group`: run as that user, with that group (default the user's own) and no others.
    const [uid, gid = uid] = user?.split(':') ?? [];
    const cmd = user ? 'setpriv' : process.execPath;
    const argv = user ? [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, ...args] : args;
    const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Starts a host (containerd only; call `kuke init` in the test). */
export async function startE2eHost(options: { subnet: string; tag: string }): Promise<E2eHost> {
  if (!existsSync(KUKE)) throw new Error('dist/kuke.mjs is missing: run npm run build (tools/setup.sh does)');
  const dir = mkdtempSync(join(tmpdir(), 'kke2e-'));
  const ctrd = await startContainerd();
  const tag = `${options.tag}${process.pid.toString(36)}`;
  const runPath = join(dir, 'opt');
  const socket = join(dir, 'run', 'kukeond.sock');
  const cgroupRoot = `/kukeon-${tag}`;
  const suffix = `${tag}.kukeon.io`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUKEOND_SOCKET: socket,
    KUKEON_CONTAINERD_SOCKET: ctrd.address,
    KUKEON_RUNC_ROOT: ctrd.runcRoot,
    KUKEON_CGROUP_ROOT: cgroupRoot,
    KUKEON_NAMESPACE_SUFFIX: suffix,
    KUKEON_POD_SUBNET: options.subnet,
    KUKEON_IP_MASQ: 'false',
    KUKEON_CNI_BIN_DIRS: '/usr/lib/cni',
  };
  const host: E2eHost = {
    ctrd,
    dir,
    runPath,
    socket,
    cgroupRoot,
    suffix,
    env,
    testImage: buildTestImage(),
    mounts: [],
    kuke: (args, o = {}) => runNode([KUKE, ...args], { ...env, ...o.env }, o.input, o.user),
    local: (args, o = {}) => runNode([KUKE, ...args, '--run-path', runPath], env, o.input),
    daemonPid: () => Number(readFileSync(join(dir, 'run', 'kukeond.pid'), 'utf8').trim()),
    async cleanup() {
      try {
        await host.local(['daemon', 'reset', '--purge-system']);
        const realms = await host.local(['get', 'realms', '-o', 'json']);
        if (realms.code === 0) {
          for (const name of namesOf(realms.stdout)) await host.local(['delete', 'realm', name, '--cascade', '--force']);
        }
      } finally {
        await ctrd.stop();
        for (const mount of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified', '']) {
          const root = join('/sys/fs/cgroup', mount, cgroupRoot);
          if (existsSync(root)) execFileSync('find', [root, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
        }
        const conf = join(runPath, 'cni', 'net.d');
        // The isolation chains of this install (named with its id), whatever the teardown above managed.
        if (existsSync(join(conf, INSTANCE_FILE))) await applyIsolation(readFileSync(join(conf, INSTANCE_FILE), 'utf8').trim(), []).catch(() => undefined);
        if (existsSync(conf)) {
          for (const f of readdirSync(conf)) {
            const bridge = /"bridge":\s*"(k-[0-9a-f]{8})"/.exec(readFileSync(join(conf, f), 'utf8'))?.[1];
            if (bridge && existsSync(join('/sys/class/net', bridge))) execFileSync('ip', ['link', 'delete', bridge]);
          }
        }
        for (const mount of host.mounts.reverse()) execFileSync('umount', ['-l', mount]);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return host;
}

/**
 * Registers the usual hooks of an e2e file: a host started (and `kuke init` run on it, with `initEnv` added to its
 * environment) before all its tests, the test image loaded into the default realm with `loadImage`, all torn down
 * after them. Returns the host's getter (the host exists once beforeAll has run).
 */
export function useInitializedHost(options: { subnet: string; tag: string; initEnv?: NodeJS.ProcessEnv; loadImage?: boolean }): () => E2eHost {
  let host: E2eHost | undefined;
  beforeAll(async () => {
    host = await startE2eHost({ subnet: options.subnet, tag: options.tag });
    const init = await runNode([KUKE, 'init', '--run-path', host.runPath], { ...host.env, ...options.initEnv });
    if (init.code !== 0) throw new Error(`kuke init failed: ${init.stderr}`);
    if (options.loadImage) {
      const load = await host.kuke(['image', 'load', host.testImage.path]);
      if (load.code !== 0) throw new Error(`kuke image load failed: ${load.stderr}`);
    }
  }, 180_000);
  afterAll(async () => {
    await host?.cleanup();
  }, 180_000);
  return () => {
    if (!host) throw new Error('the e2e host is not started yet');
    return host;
  };
}

/** host-local's directory of a space's network on an e2e host (the network is named with the install's id). */
export function ipamDir(host: Pick<E2eHost, 'runPath'>, realm = 'default', space = 'default'): string {
  const instance = readFileSync(join(host.runPath, 'cni', 'net.d', INSTANCE_FILE), 'utf8').trim();
  return join(host.runPath, 'cni', 'ipam', networkName(realm, space, instance));
}

/** A one-line error on stderr, exit 1: what a user-fixable failure looks like. */
export function expectOneLineError(r: RunResult): string {
  if (r.code !== 1) throw new Error(`expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  if (lines.length !== 1 || !lines[0]!.startsWith('Error: ')) throw new Error(`expected one "Error: " line, got:\n${r.stderr}`);
  return lines[0]!;
}

/** A v1beta1 Cell manifest in realm/space/stack `default`, one busybox container per entry (the first is the root). */
export function cellManifest(name: string, containers: { id: string; args: string[] }[]): string {
  const lines = ['kind: Cell', `metadata: {name: ${name}}`, 'spec:', '  realmId: default', '  spaceId: default', '  stackId: default', '  containers:'];
  for (const c of containers) lines.push(`    - id: ${c.id}`, '      image: kukeon.local/busybox:test', `      args: ${JSON.stringify(c.args)}`);
  return `${lines.join('\n')}\n`;
}

/** Polls `fn` until `ok` holds; throws with the last value after `ms`. */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * The network state a command of this host could create, as sorted strings. kukeon joins a cell to its root task's
 * own netns (no named netns): an attachment shows as CNI state under the run path (IPAM allocations, cache), a new
 * network as a conflist and its bridge. Links of other installs on this host (other tests running at the same time)
 * are not this host's business, so the host's whole link list is not compared.
 */
export function networkStateOf(host: Pick<E2eHost, 'runPath'>): string[] {
  const out: string[] = [];
  const cni = join(host.runPath, 'cni');
  for (const path of filesUnder(cni)) out.push(`cni ${path}`);
  const netd = join(cni, 'net.d');
  if (existsSync(netd)) {
    for (const f of readdirSync(netd)) {
      const bridge = /"bridge":\s*"([^"]+)"/.exec(readFileSync(join(netd, f), 'utf8'))?.[1];
      if (bridge) out.push(`link ${bridge} ${existsSync(join('/sys/class/net', bridge)) ? 'up' : 'absent'}`);
    }
  }
  return out.sort();
}
