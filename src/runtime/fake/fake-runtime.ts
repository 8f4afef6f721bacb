/**
 * An in-memory runtime for fast property tests of the engine: containerd, cgroups and CNI as plain maps, with
 * fault injection. It follows the ports' contract (idempotency, error kinds) like the real adapters do, and it
 * lives on when an engine "crashes", as containerd would.
 *
 * Faults:
 * - `io`: awaited at the start of every call (hand it a fast-check scheduler to interleave and crash anywhere);
 * - `failNext(method, kind)`: the next call of a method fails with that kind;
 * - `loseExits`: task exits are not pushed to watchers (as when the event stream is disconnected);
 * - `exitTask(…)`: a task exits by itself with a code;
 * - `exitOnStart`: containers (by id) whose task exits with the given code right after it starts (a one-shot).
 */
import { PassThrough } from 'node:stream';
import { FakeSecretStore } from './fake-secrets.js';
import { ErrorKind, KukeError } from '../../errors.js';
import type {
  Attachment,
  AttachOptions,
  CellEtcFiles,
  CellFiles,
  CellLogRef,
  CgroupUsage,
  Cgroups,
  ContainerLogs,
  ContainerRecord,
  ContainerRuntime,
  ContainerSpec,
  ExecSession,
  ExecSpec,
  HostPortUse,
  HostSocket,
  HostResolverFiles,
  ImageInfo,
  IsolationSpec,
  Labels,
  LogRotationPolicy,
  LogRotationReport,
  NetworkSpec,
  Networks,
  PortMapping,
  ResourceLimits,
  Runtime,
  Subscription,
  TaskExit,
  TaskInfo,
} from '../ports.js';

interface FakeTask {
  pid: number;
  /** 'created': the process exists (its namespaces too) but waits for the start, as after runc create. */
  status: 'created' | 'running' | 'stopped';
  exitCode?: number;
  exitedAt?: string;
}

interface FakeContainer {
  spec: ContainerSpec;
  task?: FakeTask;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** The shared world behind the fake ports. */
export class FakeWorld {
  /** Awaited at the start of every port call, with the call's label. */
  io: (label: string) => Promise<void> = () => Promise.resolve();
  /** When true, exits are not pushed to watchers (only found by relisting). */
  loseExits = false;
  /** Container ids whose task exits with this code as soon as it has started. */
  readonly exitOnStart = new Map<string, number>();
  /** Processes exec'd so far (their ids are numbered). */
  execs = 0;
  readonly namespaces = new Map<string, Labels>();
  readonly images = new Set<string>();
  readonly containers = new Map<string, FakeContainer>(); // `${ns}/${id}`
  readonly cgroups = new Map<string, ResourceLimits>();
  readonly networks = new Map<string, NetworkSpec>();
  /** The install's identity its networks adapter reports (fixed, so runs are deterministic). */
  instance = 'f0e1d2c3b4a59687';
  /** Subnets the host's links are on, besides the spaces' (another install's bridges, docker0…). */
  hostSubnets: string[] = [];
  /** Sockets "listening on the host" and its addresses, for published ports' checks. */
  hostSockets: HostSocket[] = [];
  hostAddresses: string[] = ['127.0.0.1'];
  hostForwarded: HostPortUse['forwarded'] = [];
  /** `${network}/${containerId}` → the attachment, and whether the netns's process had started when it was made. */
  readonly attachments = new Map<string, Attachment & { netnsPath: string; portMappings?: PortMapping[]; processStarted: boolean }>();
  /** The isolation rule set last written (by network), as a host's iptables would hold it; empty when removed. */
  readonly isolation = new Map<string, IsolationSpec>();
  /** Container log files present, by path (`…/<realm>/<space>/<stack>/<cell>/<container>.log`). */
  readonly logFiles = new Set<string>();
  /** The cells' /etc files, by `<realm>/<space>/<stack>/<cell>/<file>`, with their content. */
  readonly cellFiles = new Map<string, string>();
  /** The secret store's contents (one per world, as the run path's is one per host). */
  readonly secrets = new FakeSecretStore();
  /** What the host's resolver files hold (what `hostResolverFiles` reports). */
  hostResolver: HostResolverFiles = { hosts: '127.0.0.1\tlocalhost\n192.0.2.7\tfakehost\n', resolvConf: 'nameserver 192.0.2.53\n' };
  /** Calls made, by method, for assertions. */
  readonly calls = new Map<string, number>();
  private readonly faults = new Map<string, ErrorKind[]>();
  private readonly watchers = new Set<{ onExit: (e: TaskExit) => void; onResync: () => void; onOom?: (t: { namespace: string; id: string }) => void }>();
  private nextPid = 1000;
  private clock = 0;

  /** Makes the next `count` calls of `method` fail with `kind`. */
  failNext(method: string, kind: ErrorKind = ErrorKind.Unavailable, count = 1): void {
    const list = this.faults.get(method) ?? [];
    for (let i = 0; i < count; i++) list.push(kind);
    this.faults.set(method, list);
  }

  /** An image present in every namespace. */
  addImage(ref: string): void {
    this.images.add(ref);
  }

  /** A task exits by itself (a crash, or its program finished). */
  exitTask(namespace: string, id: string, code: number): boolean {
    const c = this.containers.get(`${namespace}/${id}`);
    if (!c?.task || c.task.status !== 'running') return false;
    this.finish(namespace, id, c.task, code);
    return true;
  }

  /** The OOM killer kills a task's process: the OOM event, then the exit (137). */
  oomKill(namespace: string, id: string): boolean {
    const c = this.container(namespace, id);
    if (!c?.task || c.task.status !== 'running') return false;
    if (!this.loseExits) for (const w of this.watchers) w.onOom?.({ namespace, id });
    this.finish(namespace, id, c.task, 137);
    return true;
  }

  /**
   * Wipes every task and cgroup, as a host reboot would. Container records, images and the CNI state (IPAM
   * reservations live under the persistent run path) survive.
   */
  reboot(): void {
    for (const c of this.containers.values()) delete c.task;
    this.cgroups.clear();
    this.isolation.clear();
  }

  /** Tells watchers the connection was re-established (they relist). */
  resync(): void {
    for (const w of this.watchers) w.onResync();
  }

  /** Tasks with a process (running, or created and waiting for its start), by `ns/id`. */
  runningTasks(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, c] of this.containers) if (c.task && c.task.status !== 'stopped') out.set(key, c.task.pid);
    return out;
  }

  /** @internal The task whose process has this pid and still exists (created or running). */
  taskOfPid(pid: number): FakeTask | undefined {
    for (const c of this.containers.values()) if (c.task && c.task.status !== 'stopped' && c.task.pid === pid) return c.task;
    return undefined;
  }

  /** The ports over this world. */
  runtime(): Runtime {
    return {
      containers: new FakeContainers(this),
      cgroups: new FakeCgroups(this),
      networks: new FakeNetworks(this),
      logs: new FakeLogs(this),
      cellFiles: new FakeCellFiles(this),
      secrets: this.secrets,
    };
  }

  /** @internal Whether `path` ends with the key of a cell file the fake holds. */
  hasCellFile(path: string): boolean {
    const key = path.split('/').slice(-5).join('/');
    return this.cellFiles.has(key);
  }

  /** @internal */
  async enter(method: string): Promise<void> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    await this.io(method);
    const fault = this.faults.get(method)?.shift();
    if (fault) throw new KukeError(fault, `injected fault in ${method}`);
  }

  /** @internal */
  container(namespace: string, id: string): FakeContainer | undefined {
    return this.containers.get(`${namespace}/${id}`);
  }

  /** @internal */
  pid(): number {
    return this.nextPid++;
  }

  /** @internal */
  finish(namespace: string, id: string, task: FakeTask, code: number): TaskExit {
    task.status = 'stopped';
    task.exitCode = code;
    task.exitedAt = new Date(Date.UTC(2026, 0, 1) + ++this.clock * 1000).toISOString();
    const exit: TaskExit = { namespace, id, pid: task.pid, exitCode: code, exitedAt: task.exitedAt };
    if (!this.loseExits) for (const w of this.watchers) w.onExit(exit);
    return exit;
  }

  /** @internal */
  watch(handlers: { onExit: (e: TaskExit) => void; onResync: () => void; onOom?: (t: { namespace: string; id: string }) => void }): Subscription {
    this.watchers.add(handlers);
    queueMicrotask(() => handlers.onResync());
    return { close: () => void this.watchers.delete(handlers) };
  }

  /** @internal Pids of the tasks (running or created) whose cgroup is at or below `path`. */
  busy(path: string): number[] {
    const pids: number[] = [];
    for (const c of this.containers.values()) {
      if (!c.task || c.task.status === 'stopped') continue;
      const p = c.spec.cgroupsPath;
      if (p === path || p.startsWith(`${path}/`)) pids.push(c.task.pid);
    }
    return pids;
  }
}

class FakeContainers implements ContainerRuntime {
  constructor(private readonly w: FakeWorld) {}

  async version() {
    await this.w.enter('version');
    return { version: 'fake', revision: '0' };
  }

  async ensureNamespace(namespace: string, labels: Labels = {}) {
    await this.w.enter('ensureNamespace');
    if (this.w.namespaces.has(namespace)) return { created: false };
    this.w.namespaces.set(namespace, labels);
    return { created: true };
  }

  async listNamespaces() {
    await this.w.enter('listNamespaces');
    return [...this.w.namespaces].map(([name, labels]) => ({ name, labels }));
  }

  async deleteNamespace(namespace: string) {
    await this.w.enter('deleteNamespace');
    const left = [...this.w.containers.keys()].filter((k) => k.startsWith(`${namespace}/`));
    if (left.length > 0) {
      throw new KukeError(ErrorKind.FailedPrecondition, `namespace ${namespace} is not empty: ${left.length} container(s) remain`);
    }
    this.w.namespaces.delete(namespace);
  }

  async importImage(_namespace: string, tarPath: string, options: { name?: string } = {}) {
    await this.w.enter('importImage');
    const name = options.name ?? tarPath;
    this.w.images.add(name);
    return [this.info(name)];
  }

  async resolveImage(_namespace: string, ref: string) {
    await this.w.enter('resolveImage');
    if (!this.w.images.has(ref)) throw new KukeError(ErrorKind.NotFound, `image ${ref} not found`, { hint: 'import it first' });
    return this.info(ref);
  }

  async listImages() {
    await this.w.enter('listImages');
    return [...this.w.images].map((n) => this.info(n));
  }

  async deleteImage(_namespace: string, ref: string) {
    await this.w.enter('deleteImage');
    this.w.images.delete(ref);
  }

  async createContainer(spec: ContainerSpec) {
    await this.w.enter('createContainer');
    if (!this.w.images.has(spec.image)) {
      throw new KukeError(ErrorKind.NotFound, `image ${spec.image} not found in ${spec.namespace}`);
    }
    const existing = this.w.container(spec.namespace, spec.id);
    if (existing) {
      existing.spec = spec;
      return { created: false };
    }
    this.w.containers.set(`${spec.namespace}/${spec.id}`, { spec });
    return { created: true };
  }

  async deleteContainer(namespace: string, id: string) {
    await this.w.enter('deleteContainer');
    const c = this.w.container(namespace, id);
    if (!c) return;
    if (c.task && c.task.status !== 'stopped') {
      throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} still has a ${c.task.status} task`);
    }
    this.w.containers.delete(`${namespace}/${id}`);
  }

  async getContainer(namespace: string, id: string): Promise<ContainerRecord | null> {
    await this.w.enter('getContainer');
    const c = this.w.container(namespace, id);
    return c ? { namespace, id, image: c.spec.image, labels: c.spec.labels } : null;
  }

  async listContainers(namespace: string, labels: Labels = {}) {
    await this.w.enter('listContainers');
    const out: ContainerRecord[] = [];
    for (const [key, c] of this.w.containers) {
      if (!key.startsWith(`${namespace}/`)) continue;
      if (Object.entries(labels).some(([k, v]) => c.spec.labels[k] !== v)) continue;
      out.push({ namespace, id: c.spec.id, image: c.spec.image, labels: c.spec.labels });
    }
    return out;
  }

  async createTask(namespace: string, id: string) {
    await this.w.enter('createTask');
    const task = this.create(namespace, id);
    return { pid: task.pid, status: task.status === 'created' ? ('created' as const) : ('running' as const) };
  }

  async startTask(namespace: string, id: string) {
    await this.w.enter('startTask');
    const task = this.create(namespace, id);
    if (task.status === 'running') return { pid: task.pid };
    task.status = 'running';
    const code = this.w.exitOnStart.get(id);
    if (code !== undefined) queueMicrotask(() => this.w.exitTask(namespace, id, code));
    return { pid: task.pid };
  }

  /** The container's task, created (as runc create leaves it) when there is none or it has stopped. */
  private create(namespace: string, id: string): FakeTask {
    const c = this.w.container(namespace, id);
    if (!c) throw new KukeError(ErrorKind.NotFound, `container ${id} not found in ${namespace}`);
    if (c.task && c.task.status !== 'stopped') return c.task;
    // runc refuses to create a container whose bind mount has no source; the cells' /etc files are the ones the fake
    // knows (their path ends with `<realm>/<space>/<stack>/<cell>/<file>`).
    const missing = (c.spec.mounts ?? []).find((m) => m.type === 'bind' && m.target.startsWith('/etc/') && !this.w.hasCellFile(m.source ?? ''));
    if (missing) throw new KukeError(ErrorKind.Internal, `runc: bind mount source ${missing.source} of container ${id} does not exist`);
    c.task = { pid: this.w.pid(), status: 'created' };
    // The shim creates the log file when it creates the task.
    this.w.logFiles.add(c.spec.logPath);
    return c.task;
  }

  async killTask(namespace: string, id: string, signal: NodeJS.Signals | number) {
    await this.w.enter('killTask');
    const c = this.w.container(namespace, id);
    if (!c?.task || c.task.status === 'stopped') return;
    const n = typeof signal === 'number' ? signal : (SIGNAL_NUMBERS[signal] ?? 15);
    this.w.finish(namespace, id, c.task, 128 + n);
  }

  async stopTask(namespace: string, id: string, options: { signal?: NodeJS.Signals | number } = {}) {
    await this.w.enter('stopTask');
    const c = this.w.container(namespace, id);
    if (!c?.task) return null;
    if (c.task.status !== 'stopped') {
      // A created task has not run the command's signal handlers yet: it dies of SIGKILL, as with containerd.
      const signal = c.task.status === 'created' ? 'SIGKILL' : (options.signal ?? 'SIGTERM');
      const n = typeof signal === 'number' ? signal : (SIGNAL_NUMBERS[signal] ?? 15);
      return this.w.finish(namespace, id, c.task, 128 + n);
    }
    return { namespace, id, pid: c.task.pid, exitCode: c.task.exitCode ?? 0, exitedAt: c.task.exitedAt ?? '' };
  }

  async deleteTask(namespace: string, id: string) {
    await this.w.enter('deleteTask');
    const c = this.w.container(namespace, id);
    if (!c?.task) return null;
    if (c.task.status === 'running') throw new KukeError(ErrorKind.FailedPrecondition, `task ${id} is running`);
    // Deleting a created task kills its waiting process.
    const exit: TaskExit = { namespace, id, pid: c.task.pid, exitCode: c.task.exitCode ?? (c.task.status === 'created' ? 137 : 0), exitedAt: c.task.exitedAt ?? '' };
    delete c.task;
    return exit;
  }

  async getTask(namespace: string, id: string): Promise<TaskInfo | null> {
    await this.w.enter('getTask');
    const t = this.w.container(namespace, id)?.task;
    if (!t) return null;
    return {
      namespace,
      id,
      pid: t.pid,
      status: t.status,
      ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
      ...(t.exitedAt ? { exitedAt: t.exitedAt } : {}),
    };
  }

  async listTasks(namespace: string) {
    await this.w.enter('listTasks');
    const out: TaskInfo[] = [];
    for (const c of this.w.containers.values()) {
      if (c.spec.namespace !== namespace || !c.task) continue;
      out.push({ namespace, id: c.spec.id, pid: c.task.pid, status: c.task.status, ...(c.task.exitCode !== undefined ? { exitCode: c.task.exitCode } : {}) });
    }
    return out;
  }

  watchExits(handlers: { onExit: (e: TaskExit) => void; onResync: () => void; onOom?: (t: { namespace: string; id: string }) => void }) {
    return this.w.watch(handlers);
  }

  /**
   * A few commands, enough to test what relays an exec: `true`, `false`, `echo …`, `cat` (stdin to stdout),
   * `sh -c 'exit N'`; anything else is not found.
   */
  async execProcess(namespace: string, id: string, spec: ExecSpec): Promise<ExecSession> {
    await this.w.enter('execProcess');
    const t = this.w.container(namespace, id)?.task;
    if (t?.status !== 'running') throw new KukeError(ErrorKind.FailedPrecondition, `container ${id} in ${namespace} is not running`);
    return fakeExec(spec, ++this.w.execs);
  }

  /** The fake's execs end with their caller: none is ever left. */
  async reapExecs() {
    return [];
  }

  close() {}

  private info(name: string): ImageInfo {
    return { name, digest: 'sha256:fake', chainId: 'sha256:fake', size: 0, config: { env: [], entrypoint: [], cmd: ['sh'], workingDir: '/', user: '' } };
  }
}

class FakeCgroups implements Cgroups {
  readonly mode = 'v2' as const;
  constructor(private readonly w: FakeWorld) {}

  async ensure(path: string, limits: ResourceLimits = {}) {
    await this.w.enter('cgroups.ensure');
    const created = !this.w.cgroups.has(path);
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (!this.w.cgroups.has(p)) this.w.cgroups.set(p, {});
    }
    this.w.cgroups.set(path, { ...this.w.cgroups.get(path), ...limits });
    return { created };
  }

  async remove(path: string) {
    await this.w.enter('cgroups.remove');
    const busy = this.w.busy(path);
    if (busy.length > 0) {
      throw new KukeError(ErrorKind.FailedPrecondition, `cgroup ${path} is busy: ${busy.length} process(es) remain`);
    }
    for (const p of [...this.w.cgroups.keys()]) if (p === path || p.startsWith(`${path}/`)) this.w.cgroups.delete(p);
  }

  async exists(path: string) {
    await this.w.enter('cgroups.exists');
    return this.w.cgroups.has(path);
  }

  async pids(path: string, options: { recursive?: boolean } = {}) {
    await this.w.enter('cgroups.pids');
    return options.recursive ? this.w.busy(path) : [];
  }

  async usage(path: string): Promise<CgroupUsage> {
    await this.w.enter('cgroups.usage');
    if (!this.w.cgroups.has(path)) throw new KukeError(ErrorKind.NotFound, `cgroup ${path} not found`);
    return { cpuNanos: 0, memoryBytes: 0, pids: this.w.busy(path).length };
  }

  async children(path: string) {
    await this.w.enter('cgroups.children');
    const depth = path.split('/').length;
    return [...this.w.cgroups.keys()]
      .filter((p) => p.startsWith(`${path}/`) && p.split('/').length === depth + 1)
      .map((p) => p.slice(path.length + 1));
  }
}

class FakeNetworks implements Networks {
  constructor(private readonly w: FakeWorld) {}

  get instance() {
    return this.w.instance;
  }

  async ensureNetwork(spec: NetworkSpec) {
    await this.w.enter('ensureNetwork');
    const created = !this.w.networks.has(spec.name);
    this.w.networks.set(spec.name, spec);
    return { created };
  }

  async deleteNetwork(name: string) {
    await this.w.enter('deleteNetwork');
    this.w.networks.delete(name);
    for (const key of [...this.w.attachments.keys()]) if (key.startsWith(`${name}/`)) this.w.attachments.delete(key);
  }

  async listNetworks() {
    await this.w.enter('listNetworks');
    return [...this.w.networks.values()];
  }

  async hostSubnets() {
    await this.w.enter('hostSubnets');
    return [...this.w.hostSubnets];
  }

  async hostPortUse(): Promise<HostPortUse> {
    await this.w.enter('hostPortUse');
    return { sockets: [...this.w.hostSockets], addresses: [...this.w.hostAddresses], forwarded: [...this.w.hostForwarded] };
  }

  async attach(network: string, containerId: string, netnsPath: string, options: AttachOptions = {}): Promise<Attachment> {
    await this.w.enter('attach');
    const spec = this.w.networks.get(network);
    if (!spec) throw new KukeError(ErrorKind.NotFound, `network ${network} not found`);
    // As the CNI adapter: a `/proc/<pid>/ns/net` whose process is gone is no namespace to attach.
    const pid = /^\/proc\/(\d+)\/ns\/net$/.exec(netnsPath)?.[1];
    const task = pid === undefined ? undefined : this.w.taskOfPid(Number(pid));
    if (pid !== undefined && !task) throw new KukeError(ErrorKind.NotFound, `network namespace ${netnsPath} does not exist (has the cell's root task exited?)`);
    const key = `${network}/${containerId}`;
    const existing = this.w.attachments.get(key);
    if (existing && existing.netnsPath === netnsPath && (!options.ip || existing.address === `${options.ip}/24`)) {
      // Published ports follow the latest attach, as the CNI adapter's DEL-then-ADD does.
      existing.portMappings = options.portMappings;
      return strip(existing);
    }
    this.w.attachments.delete(key);
    const used = new Set([...this.w.attachments.values()].filter((a) => a.network === network).map((a) => a.address));
    const base = spec.subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
    let address: string;
    if (options.ip) {
      // As host-local does with the `ips` capability: the address asked for, or an error if another holds it.
      address = `${options.ip}/24`;
      if (used.has(address)) throw new KukeError(ErrorKind.FailedPrecondition, `requested IP address ${options.ip} is not available in network ${network}`);
    } else {
      let host = 2;
      while (used.has(`${base}.${host}/24`)) host++;
      address = `${base}.${host}/24`;
    }
    const att = { network, containerId, ifname: 'eth0', address, gateway: `${base}.1`, netnsPath, portMappings: options.portMappings, processStarted: task?.status === 'running' };
    this.w.attachments.set(key, att);
    return strip(att);
  }

  async detach(network: string, containerId: string) {
    await this.w.enter('detach');
    this.w.attachments.delete(`${network}/${containerId}`);
  }

  async listAttachments(network?: string) {
    await this.w.enter('listAttachments');
    return [...this.w.attachments.values()].filter((a) => !network || a.network === network).map(strip);
  }

  async ensureIsolation(spaces: IsolationSpec[]) {
    await this.w.enter('ensureIsolation');
    const next = new Map(spaces.map((s) => [s.network, { ...s, allowFrom: [...s.allowFrom].sort() }]));
    const changed = JSON.stringify([...this.w.isolation].sort()) !== JSON.stringify([...next].sort());
    this.w.isolation.clear();
    for (const [k, v] of next) this.w.isolation.set(k, v);
    return { changed };
  }

  async gc(live: { network: string; containerId: string }[]) {
    await this.w.enter('gc');
    const keep = new Set(live.map((l) => `${l.network}/${l.containerId}`));
    const released: Attachment[] = [];
    for (const [key, a] of [...this.w.attachments]) {
      if (keep.has(key)) continue;
      this.w.attachments.delete(key);
      released.push(strip(a));
    }
    return { released };
  }
}

function strip(a: Attachment & { netnsPath?: string; portMappings?: PortMapping[]; processStarted?: boolean }): Attachment {
  const { netnsPath: _netns, portMappings: _ports, processStarted: _started, ...rest } = a;
  return rest;
}

class FakeLogs implements ContainerLogs {
  constructor(private readonly w: FakeWorld) {}

  async removeCell(cell: CellLogRef) {
    await this.w.enter('logs.removeCell');
    const dir = `/${cell.realm}/${cell.space}/${cell.stack}/${cell.cell}/`;
    for (const path of [...this.w.logFiles]) {
      // The cell's directory is the four segments before the file name, as in the real layout.
      if (path.slice(0, path.lastIndexOf('/') + 1).endsWith(dir)) this.w.logFiles.delete(path);
    }
  }

  async rotate(_policy: LogRotationPolicy): Promise<LogRotationReport> {
    await this.w.enter('logs.rotate');
    return { rotated: [], removed: [] };
  }
}

class FakeCellFiles implements CellFiles {
  constructor(private readonly w: FakeWorld) {}

  async write(cell: CellLogRef, files: Partial<CellEtcFiles>) {
    await this.w.enter('cellFiles.write');
    for (const [name, content] of Object.entries(files)) if (content !== undefined) this.w.cellFiles.set(`${cellKey(cell)}/${name}`, content);
  }

  async removeCell(cell: CellLogRef) {
    await this.w.enter('cellFiles.removeCell');
    for (const key of [...this.w.cellFiles.keys()]) if (key.startsWith(`${cellKey(cell)}/`)) this.w.cellFiles.delete(key);
  }

  async listCells(): Promise<CellLogRef[]> {
    await this.w.enter('cellFiles.listCells');
    const cells = new Map<string, CellLogRef>();
    for (const key of this.w.cellFiles.keys()) {
      const [realm, space, stack, cell] = key.split('/') as [string, string, string, string];
      cells.set(`${realm}/${space}/${stack}/${cell}`, { realm, space, stack, cell });
    }
    return [...cells.values()];
  }

  async hostResolverFiles(): Promise<HostResolverFiles> {
    await this.w.enter('cellFiles.hostResolverFiles');
    return { ...this.w.hostResolver };
  }
}

function cellKey(cell: CellLogRef): string {
  return `${cell.realm}/${cell.space}/${cell.stack}/${cell.cell}`;
}

/** The fake's exec'd process (see FakeContainers.execProcess). */
function fakeExec(spec: ExecSpec, n: number): ExecSession {
  const [command, ...args] = spec.args;
  const stdout = new PassThrough();
  const stderr = spec.tty ? undefined : new PassThrough();
  const stdin = spec.stdin ? new PassThrough() : undefined;
  let code: number;
  if (command === 'true') code = 0;
  else if (command === 'false') code = 1;
  else if (command === 'echo') code = 0;
  else if (command === 'cat') code = 0;
  else if (command === 'sh' && args[0] === '-c' && /^exit \d+$/.test(args[1] ?? '')) code = Number(args[1]!.slice(5));
  else throw new KukeError(ErrorKind.NotFound, `${command}: executable file not found in the container's $PATH`);
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  const end = () => {
    stdout.end();
    stderr?.end();
    finish(code);
  };
  if (command === 'echo') stdout.write(`${args.join(' ')}\n`);
  if (command === 'cat' && stdin) {
    stdin.pipe(stdout, { end: false });
    stdin.on('end', end);
  } else {
    setImmediate(end);
  }
  return {
    execId: spec.execId ?? `exec-fake-${n}`,
    pid: 100_000 + n,
    stdin,
    stdout,
    stderr,
    exited,
    closeStdin: async () => void stdin?.end(),
    resize: async () => undefined,
    kill: async () => {
      code = 137;
      end();
    },
    close: async () => undefined,
  };
}
