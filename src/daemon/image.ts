/**
 * The daemon's image, built from the installed package because no registry is reachable: one uncompressed layer
 * with the Node binary and the libraries it loads, the kukeond bundle and its one native addon (classic-level's
 * prebuilt `.node`, carried with its JS closure), and the binaries the daemon and the CNI plugins call inside the
 * container (`ip`, `ss`, `mkfifo`, and iptables for masquerading). Reference `kukeon.local/kukeond:<version>`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorKind, KukeError } from '../errors.js';
import { writeOciLayout } from '../runtime/containerd/oci-layout.js';
import type { TarEntry } from '../runtime/containerd/tar.js';
import { VERSION } from '../version.js';

/**
 * The image reference of the installed daemon: this version, and the build (a hash of the bundle and its chunks), so
 * a rebuilt or reinstalled package of the same version is a new image that `kuke init` imports and switches the
 * daemon's cell to, rather than running on an image of an older build.
 */
export function daemonImageRef(): string {
  const bundle = locateDaemonBundle();
  const hash = createHash('sha256').update(readFileSync(bundle));
  const chunks = join(dirname(bundle), 'chunks');
  if (existsSync(chunks)) for (const name of readdirSync(chunks).sort()) hash.update(name).update(readFileSync(join(chunks, name)));
  return `kukeon.local/kukeond:${VERSION}-${hash.digest('hex').slice(0, 12)}`;
}
/** Where the bundle sits inside the image. */
export const DAEMON_BUNDLE = '/opt/kukeond/kukeond.mjs';
/** Where Node sits inside the image. */
export const DAEMON_NODE = '/usr/bin/node';

/** Finds dist/kukeond.mjs: next to the running bundle, or in the package's dist/ when running from sources. */
export function locateDaemonBundle(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'kukeond.mjs');
  if (existsSync(beside)) return beside;
  for (let dir = here; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kukeon') {
      const built = join(dir, 'dist', 'kukeond.mjs');
      if (existsSync(built)) return built;
      break;
    }
  }
  throw new KukeError(ErrorKind.NotFound, 'the kukeond bundle (dist/kukeond.mjs) is missing', { hint: 'build it first: npm run build' });
}

/** Collects a host path into the layer: every directory and symlink on the way, then the file itself. */
class LayerCollector {
  private readonly seen = new Set<string>();
  readonly entries: TarEntry[] = [];

  add(path: string, depth = 0): void {
    if (depth > 40) throw new KukeError(ErrorKind.Internal, `too many symlinks resolving ${path}`);
    const parts = resolve(path).split('/').filter(Boolean);
    let current = '';
    for (let i = 0; i < parts.length; i++) {
      current += `/${parts[i]}`;
      const st = lstatSync(current);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(current);
        if (!this.seen.has(current)) {
          this.seen.add(current);
          this.entries.push({ type: 'symlink', path: current, target });
        }
        const resolved = resolve(dirname(current), target);
        this.add([resolved, ...parts.slice(i + 1)].join('/'), depth + 1);
        return;
      }
      if (this.seen.has(current)) continue;
      this.seen.add(current);
      if (st.isDirectory()) this.entries.push({ type: 'dir', path: current, mode: st.mode & 0o7777 });
      else this.entries.push({ type: 'file', path: current, mode: st.mode & 0o7777, fromFile: current });
    }
  }

  /** A directory tree, recursively. */
  addTree(dir: string, filter: (path: string) => boolean = () => true): void {
    this.add(dir);
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (!filter(path)) continue;
      const st = lstatSync(path);
      if (st.isDirectory()) this.addTree(path, filter);
      else this.add(path);
    }
  }

  /** A binary and the shared libraries `ldd` lists for it. */
  addBinary(path: string): void {
    this.add(path);
    const out = execFileSync('ldd', [path], { encoding: 'utf8' });
    for (const line of out.split('\n')) {
      const lib = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
      if (lib) this.add(lib);
    }
  }

  /** Places a host file at another path in the image (with its parent directories). */
  place(from: string, to: string, mode?: number): void {
    const parts = to.split('/').filter(Boolean);
    let current = '';
    for (const part of parts.slice(0, -1)) {
      current += `/${part}`;
      if (!this.seen.has(current)) {
        this.seen.add(current);
        this.entries.push({ type: 'dir', path: current, mode: 0o755 });
      }
    }
    this.seen.add(to);
    this.entries.push({ type: 'file', path: to, mode: mode ?? statSync(from).mode & 0o7777, fromFile: from });
  }

  dir(path: string, mode = 0o755): void {
    if (this.seen.has(path)) return;
    this.seen.add(path);
    this.entries.push({ type: 'dir', path, mode });
  }

  data(path: string, text: string): void {
    this.seen.add(path);
    this.entries.push({ type: 'file', path, data: Buffer.from(text) });
  }
}

/** The closure of a package's dependencies in node_modules (name → directory). */
function dependencyClosure(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (name: string, from: string) => {
    if (out.has(name)) return;
    const require = createRequire(join(from, 'package.json'));
    const dir = dirname(require.resolve(`${name}/package.json`));
    out.set(name, dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir);
  };
  visit(root, dirname(locateDaemonBundle()));
  return out;
}

function which(binary: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (existsSync(join(dir, binary))) return join(dir, binary);
  return undefined;
}

/** Builds the daemon image tar at `out` (reused if newer than the bundle). Returns its path and reference. */
export function buildDaemonImage(out: string, onStep?: (step: string) => void, ref: string = daemonImageRef()): { path: string; ref: string } {
  const bundle = locateDaemonBundle();
  if (existsSync(out) && statSync(out).mtimeMs > statSync(bundle).mtimeMs) return { path: out, ref };
  // One image per build: a tar of another build under the same name must not be reused (a rebuilt bundle).
  mkdirSync(dirname(out), { recursive: true });
  const layer = new LayerCollector();
  onStep?.('collecting node and its libraries');
  for (const d of ['/dev', '/proc', '/sys', '/run', '/etc', '/root', '/var']) layer.dir(d);
  layer.dir('/tmp', 0o1777);
  layer.data('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  layer.data('/etc/group', 'root:x:0:\n');
  layer.place(process.execPath, DAEMON_NODE, 0o755);
  layer.addBinary(process.execPath);
  // The daemon removes bridges with `ip`, asks `ss` who is calling (peer.ts) and makes the FIFOs of exec'd processes
  // with `mkfifo` (src/runtime/containerd/fifo-io.ts); the CNI bridge plugin masquerades with iptables.
  for (const tool of ['ip', 'ss', 'mkfifo', 'xtables-nft-multi', 'xtables-legacy-multi']) {
    const path = which(tool);
    if (path) layer.addBinary(path);
  }
  for (const name of ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables']) {
    const path = which(name);
    if (path) layer.add(path);
  }
  const modules = '/usr/lib/x86_64-linux-gnu/xtables';
  if (existsSync(modules)) layer.addTree(modules);
  onStep?.('collecting the kukeond bundle');
  layer.place(bundle, DAEMON_BUNDLE, 0o644);
  if (existsSync(`${bundle}.map`)) layer.place(`${bundle}.map`, `${DAEMON_BUNDLE}.map`, 0o644);
  // The bundles share code-split chunks.
  const chunks = join(dirname(bundle), 'chunks');
  if (existsSync(chunks)) for (const name of readdirSync(chunks).sort()) layer.place(join(chunks, name), join(dirname(DAEMON_BUNDLE), 'chunks', name), 0o644);
  for (const [name, dir] of dependencyClosure('classic-level')) {
    const target = `/opt/kukeond/node_modules/${name}`;
    const walk = (src: string, dst: string) => {
      for (const entry of readdirSync(src).sort()) {
        const from = join(src, entry);
        // Only this platform's prebuilt addon: the others are dead weight.
        if (name === 'classic-level' && src.endsWith('prebuilds') && entry !== 'linux-x64') continue;
        if (entry === 'deps' || entry === 'binding.gyp' || entry === 'test') continue;
        const st = lstatSync(from);
        if (st.isDirectory()) walk(from, join(dst, entry));
        else if (st.isFile()) layer.place(from, join(dst, entry), st.mode & 0o7777);
      }
    };
    walk(dir, target);
  }
  onStep?.('writing the image');
  writeOciLayout(out, layer.entries, {
    ref,
    entrypoint: [DAEMON_NODE, DAEMON_BUNDLE],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NODE_ENV=production'],
    labels: { 'org.opencontainers.image.title': 'kukeond', 'org.opencontainers.image.version': VERSION },
  });
  return { path: out, ref };
}
