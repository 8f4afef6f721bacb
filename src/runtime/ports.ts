/**
 * The engine's hands: four small ports. The engine runs every effect through them and nothing else touches
 * containerd, cgroupfs, CNI or the containers' log files. Adapters live in containerd/, cgroups/, cni/, logs/ and
 * fake/, and pass the same contract tests.
 *
 * Contract shared by every method:
 * - Idempotent where marked: calling it again after success (or after a crash in the middle) is harmless and
 *   reports the same result. Deterministic names (from src/model/names.ts) make that possible: adapters *find*
 *   resources, they do not remember them.
 * - Failures are `KukeError`s with a kind (src/errors.ts), translated at the adapter boundary: NotFound,
 *   AlreadyExists, FailedPrecondition (e.g. "namespace not empty", "cgroup busy"), InvalidArgument, Unavailable
 *   (daemon/socket down), Internal. Messages name the resource and, where it helps, say what to do.
 * - Inputs are already validated names; adapters validate again at the boundary where a string becomes a path.
 */

/** Labels on containerd objects. */
export type Labels = Record<string, string>;

// ------------------------------------------------------------------------------------------------ containers

/** What an image says about how to run it (OCI image config), used as defaults by the spec builder. */
export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

/** An image present in a namespace. */
export interface ImageInfo {
  /** The reference, e.g. `kukeon.local/busybox:test`. */
  name: string;
  /** Digest of the manifest (or index) the image points at. */
  digest: string;
  /** Chain id of the rootfs (the committed snapshot's name). */
  chainId: string;
  /** Total size of the layers, in bytes. */
  size: number;
  config: ImageConfig;
}

/** Progress of an image import, for a progress bar. */
export interface ImportProgress {
  /** What is being written: a blob digest, or 'unpack'. */
  item: string;
  done: number;
  total: number;
}

/** A bind or tmpfs mount in a container. */
export interface MountSpec {
  type: 'bind' | 'tmpfs';
  /** Host path for binds; ignored for tmpfs. */
  source?: string;
  /** Absolute path in the container. */
  target: string;
  readOnly?: boolean;
  /** Extra mount options (e.g. `rshared`, `size=64m`). */
  options?: string[];
}

/** cgroup limits; every field optional. */
export interface ResourceLimits {
  memoryBytes?: number;
  /** Relative CPU weight, cgroup v1 `cpu.shares` scale (2–262144). */
  cpuShares?: number;
  /** CPU quota in microseconds per `cpuPeriodUs` (default period 100000). */
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  pidsMax?: number;
}

/** How a container gets its network namespace. */
export type NetworkMode =
  /** A new, empty network namespace (the cell's root container; CNI attaches it after the task is created, before it starts). */
  | { mode: 'new' }
  /** Join an existing one by path (other containers join `/proc/<root pid>/ns/net`). */
  | { mode: 'join'; path: string }
  /** The host's network namespace (the daemon's cell). */
  | { mode: 'host' };

/** Everything needed to create one containerd container and run its task. */
export interface ContainerSpec {
  /** containerd namespace (the realm's). */
  namespace: string;
  /** containerd id (`<space>_<stack>_<cell>_<container|root>`). */
  id: string;
  /** Image reference in that namespace; must already be present (imported). */
  image: string;
  labels: Labels;
  /** Overrides the image's entrypoint when set. */
  command?: string[];
  /** Overrides the image's cmd when set. */
  args?: string[];
  /** `KEY=VALUE` entries, added to (and overriding) the image's env. */
  env?: string[];
  workingDir?: string;
  hostname?: string;
  /** Absolute cgroup path for the task (OCI `linux.cgroupsPath`), e.g. `/kukeon/r/s/t/c/s_t_c_root`. */
  cgroupsPath: string;
  network: NetworkMode;
  /** Share the host's PID namespace. */
  hostPid?: boolean;
  /** All capabilities, all devices, no seccomp, writable /sys: for the daemon's own container. */
  privileged?: boolean;
  mounts?: MountSpec[];
  resources?: ResourceLimits;
  /** File that receives the task's stdout and stderr (created by the shim); under the run path. */
  logPath: string;
  // Security settings (issue 11); absent = Docker's defaults. Ignored for a privileged container but noNewPrivileges.
  /** `uid[:gid]` or `name[:group]`, resolved in the image's /etc/passwd and /etc/group; absent = the image's User. */
  user?: string;
  /** Normalised names (`CAP_NET_ADMIN`, `ALL`) added to and dropped from the default set. */
  capabilities?: { add: string[]; drop: string[] };
  readOnlyRootFilesystem?: boolean;
  /** `default` (absent too), `unconfined`, or an absolute path to a JSON profile. */
  seccompProfile?: string;
  /** Absent = true. */
  noNewPrivileges?: boolean;
  /** Namespaced sysctls, already checked (src/model/security.ts). */
  sysctls?: Record<string, string>;
}

/** A containerd container record. */
export interface ContainerRecord {
  namespace: string;
  id: string;
  image: string;
  labels: Labels;
}

/** Task states as containerd reports them. */
export type TaskStatus = 'created' | 'running' | 'paused' | 'stopped' | 'unknown';

/** A task (the running process of a container). */
export interface TaskInfo {
  namespace: string;
  id: string;
  pid: number;
  status: TaskStatus;
  /** Set when `status` is 'stopped'. */
  exitCode?: number;
  /** ISO time of the exit, when stopped. */
  exitedAt?: string;
}

/** A task's exit, as reported by the event stream, `wait`, `get` or `delete`. Death by signal N is 128+N. */
export interface TaskExit {
  namespace: string;
  id: string;
  pid: number;
  exitCode: number;
  /** ISO time. */
  exitedAt: string;
}

/** A process to run in a container's running task (`kuke exec`), derived from the container's own process spec. */
export interface ExecSpec {
  /** containerd's exec id (a containerd identifier, unique within the task); default a new one. */
  execId?: string;
  /** The command and its arguments; the first is looked up in the container's PATH. */
  args: string[];
  /** `KEY=VALUE` entries added to (and overriding) the container's env. */
  env?: string[];
  /** Working directory; default the container's. */
  cwd?: string;
  /** `uid[:gid]`, or a user (and group) name of the container's /etc/passwd (/etc/group); default the container's. */
  user?: string;
  /** Give the process a stdin to write to (otherwise it reads /dev/null). */
  stdin: boolean;
  /** Run it on a pseudo terminal: its output then comes on `stdout` only. */
  tty: boolean;
  /** The terminal's size at start (tty only). */
  size?: TerminalSize;
}

/** A terminal's size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * A process started in a container's task. Its output streams end once the process exited and the shim has
 * copied everything out; reading them is the caller's job (a reader that stops reading stops the process at its
 * next write once the pipe is full: nothing is buffered without bound).
 */
export interface ExecSession {
  /** containerd's exec id (unique within the task). */
  readonly execId: string;
  readonly pid: number;
  /** The process's stdin when asked for; {@link closeStdin} ends it. */
  readonly stdin: NodeJS.WritableStream | undefined;
  /** stdout (with a terminal: everything the terminal shows). */
  readonly stdout: NodeJS.ReadableStream;
  /** stderr; undefined with a terminal. */
  readonly stderr: NodeJS.ReadableStream | undefined;
  /** The exit code (128+N for a death by signal N), once the process exited. */
  readonly exited: Promise<number>;
  /** Ends the process's stdin after what was written (the process reads end of file). Idempotent. */
  closeStdin(): Promise<void>;
  /** Resizes its terminal (nothing without one). */
  resize(size: TerminalSize): Promise<void>;
  kill(signal: NodeJS.Signals | number): Promise<void>;
  /** Releases the FIFOs and containerd's record of the process, killing it first if it still runs. Idempotent. */
  close(): Promise<void>;
}

/** An exec'd process found without its relay (see ContainerRuntime.reapExecs). */
export interface ReapedExec {
  namespace: string;
  /** The container's containerd id. */
  id: string;
  execId: string;
  /** Its exit code, when the shim still knew the process. */
  exitCode?: number;
}

/** A long-lived subscription; `close()` ends it. */
export interface Subscription {
  close(): void;
}

/**
 * containerd, reduced to what the engine needs.
 */
export interface ContainerRuntime {
  /** containerd's version; also a health check. */
  version(): Promise<{ version: string; revision: string }>;

  /** Creates the namespace with these labels if missing. Idempotent. */
  ensureNamespace(namespace: string, labels?: Labels): Promise<{ created: boolean }>;
  listNamespaces(): Promise<{ name: string; labels: Labels }[]>;
  /**
   * Deletes the namespace after removing what kukeon left in it that is safe to remove (images it imported,
   * leases, content). FailedPrecondition if containers or snapshots of workloads remain. Missing → ok.
   */
  deleteNamespace(namespace: string): Promise<void>;

  /**
   * Imports an OCI image layout tar (as written by tools/build-test-image) into the namespace through the API and
   * unpacks it. Returns the image names created or updated. Idempotent.
   */
  importImage(
    namespace: string,
    tarPath: string,
    options?: { name?: string; onProgress?: (p: ImportProgress) => void },
  ): Promise<ImageInfo[]>;
  /** Resolves an image in the namespace (NotFound with a hint to import it), unpacking it if needed. */
  resolveImage(namespace: string, ref: string): Promise<ImageInfo>;
  listImages(namespace: string): Promise<ImageInfo[]>;
  /** Deletes the image (and lets containerd's GC collect its content). Missing → ok. */
  deleteImage(namespace: string, ref: string): Promise<void>;

  /**
   * Creates the container record and its rootfs snapshot (named after the id). Idempotent: an existing container
   * with the same id is kept and `created: false` returned.
   */
  createContainer(spec: ContainerSpec): Promise<{ created: boolean }>;
  /**
   * Deletes the container: its task must be gone (FailedPrecondition if a task is still running); removes the
   * snapshot, then the record. Missing → ok.
   */
  deleteContainer(namespace: string, id: string): Promise<void>;
  getContainer(namespace: string, id: string): Promise<ContainerRecord | null>;
  /** Containers of the namespace, optionally only those carrying all of `labels`. */
  listContainers(namespace: string, labels?: Labels): Promise<ContainerRecord[]>;

  /**
   * Creates the container's task (runc create): its namespaces exist and its process waits, not yet running the
   * container's command, until {@link startTask}. That is when a cell's network is attached to `/proc/<pid>/ns/net`,
   * so the process starts with it. stdout/stderr go to the spec's log file. Idempotent: a created or running task's
   * pid is returned as is (with its status); a stopped task is deleted and a new one created.
   */
  createTask(namespace: string, id: string): Promise<{ pid: number; status: 'created' | 'running' }>;
  /**
   * Starts the container's task: the created one, or one created here when there is none (a stopped task is deleted
   * and a new one created first). Idempotent: a running task's pid is returned as is.
   */
  startTask(namespace: string, id: string): Promise<{ pid: number }>;
  /** Sends a signal to the task (all its processes if `all`). Missing task or finished process → ok. */
  killTask(namespace: string, id: string, signal: NodeJS.Signals | number, options?: { all?: boolean }): Promise<void>;
  /**
   * Stops the task: `signal` (default SIGTERM), waits up to `graceMs`, then SIGKILL, and waits for the exit.
   * Returns the exit, or null if there was no task. Idempotent.
   */
  stopTask(
    namespace: string,
    id: string,
    options?: { signal?: NodeJS.Signals | number; graceMs?: number },
  ): Promise<TaskExit | null>;
  /** Deletes a task that is not running (created or stopped). Returns its exit, null if there was none. */
  deleteTask(namespace: string, id: string): Promise<TaskExit | null>;
  /** The task of a container, or null if it has none. */
  getTask(namespace: string, id: string): Promise<TaskInfo | null>;
  listTasks(namespace: string): Promise<TaskInfo[]>;

  /**
   * Watches task exits and OOM kills in every kukeon namespace. After each (re)connection `onResync` is called:
   * exits that happened while disconnected are never pushed, so the caller relists with `listTasks`.
   */
  watchExits(handlers: { onExit: (exit: TaskExit) => void; onResync: () => void; onOom?: (task: { namespace: string; id: string }) => void }): Subscription;

  /**
   * Runs a process in the container's running task, with the container's process spec (env, cwd, user,
   * capabilities) but `spec`'s command. FailedPrecondition if the task does not run; a command the container cannot
   * run fails with NotFound (not found: a shell's 127) or PermissionDenied (not executable: 126), and nothing is left.
   */
  execProcess(namespace: string, id: string, spec: ExecSpec): Promise<ExecSession>;
  /**
   * Ends the exec'd processes whose relay is gone (kukeond's start: a previous daemon relayed them, and its clients
   * went with it): each is killed and released, with its FIFOs. Returns what was found, with the exit code when the
   * shim still knew it.
   */
  reapExecs(): Promise<ReapedExec[]>;

  /** Releases the connection. */
  close(): void;
}

// ------------------------------------------------------------------------------------------------ cgroups

/** CPU and memory of a cgroup subtree. */
export interface CgroupUsage {
  /** CPU time consumed, in nanoseconds. */
  cpuNanos: number;
  /** Current memory use, in bytes. */
  memoryBytes: number;
  /** Peak memory use, in bytes, when the kernel reports it. */
  memoryPeakBytes?: number;
  /** Number of tasks in the subtree, when the pids controller is there. */
  pids?: number;
}

/**
 * The cgroup manager. Paths are absolute cgroup paths (`/kukeon/default/default/default/web`) built by
 * `cgroupPath()` from validated names; the adapter maps them onto every mounted hierarchy (v1, hybrid or v2).
 */
export interface Cgroups {
  /** 'v1' (legacy or hybrid: per-controller hierarchies) or 'v2' (unified). Detected, never assumed. */
  readonly mode: 'v1' | 'v2';
  /** Creates the cgroup (and missing parents) in every hierarchy, then applies `limits`. Idempotent. */
  ensure(path: string, limits?: ResourceLimits): Promise<{ created: boolean }>;
  /**
   * Removes the cgroup and its empty descendants, bottom-up. FailedPrecondition ("cgroup busy") if a process
   * remains anywhere below. Missing → ok.
   */
  remove(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Pids in the cgroup and, with `recursive`, its descendants. */
  pids(path: string, options?: { recursive?: boolean }): Promise<number[]>;
  /** CPU and memory of the subtree rooted at `path`. NotFound if it does not exist. */
  usage(path: string): Promise<CgroupUsage>;
  /** Names of the direct children of `path` (empty if it does not exist). */
  children(path: string): Promise<string[]>;
}

// ------------------------------------------------------------------------------------------------ networks

/** A space's network. */
export interface NetworkSpec {
  /** `<realm>.<space>.<instance tag>` (`<realm>-<space>` for spaces created by older versions). */
  name: string;
  /** `k-<8 hex>`. */
  bridge: string;
  /** The space's /24, e.g. `10.86.0.0/24`. */
  subnet: string;
  /** Masquerade traffic leaving the subnet (needs iptables). */
  ipMasq: boolean;
}

/** One cell's attachment to its space's network. */
export interface Attachment {
  network: string;
  /** The root container's containerd id (CNI_CONTAINERID). */
  containerId: string;
  /** Interface inside the netns. */
  ifname: string;
  /** Address with prefix, e.g. `10.86.0.2/24`. */
  address: string;
  gateway?: string;
}

/** A host port forwarded to a cell (CNI portmap's `portMappings` capability). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** Host address the port is bound to; all of the host's addresses when absent. */
  hostIP?: string;
}

/** A socket of the host holding a port: a TCP listener or a bound UDP socket. */
export interface HostSocket {
  protocol: 'tcp' | 'udp';
  port: number;
  /** The IPv4 address it is bound to; absent when it takes every address (`0.0.0.0`, or `::` on a dual-stack socket). */
  address?: string;
}

/** What of the host's network a published port must not collide with. */
export interface HostPortUse {
  /** Sockets listening in the host's network namespace (IPv4, and IPv6 ones that take IPv4 traffic). */
  sockets: HostSocket[];
  /** The host's IPv4 addresses (a published port's host address must be one of them). */
  addresses: string[];
  /**
   * Host ports forwarded by CNI portmap rules of networks that are not this install's (another install on the host,
   * another CNI tool): they hold no socket, yet the first rule takes the traffic.
   */
  forwarded: (HostSocket & { owner: string })[];
}

/** What a cell asks of its attachment beyond an address from the pool. */
export interface AttachOptions {
  /** The IPv4 address (without prefix) the cell must get: its static `ip`, or the one it had before. */
  ip?: string;
  /** Host ports forwarded to the cell. */
  portMappings?: PortMapping[];
}

/** A space's network as isolation sees it (runtime/cni/isolation.ts). */
export interface IsolationSpec {
  /** The space's network name. */
  network: string;
  /** Its bridge (`k-<8 hex>`). */
  bridge: string;
  /** Networks (of this install's spaces) whose cells may open connections to this space's cells. */
  allowFrom: string[];
}

/**
 * CNI: one bridge network per space, one attachment per cell (the root container's network namespace).
 */
export interface Networks {
  /**
   * The identity of this install (16 hex digits, fixed for the life of its run path). Names of new networks carry it
   * and the bridges it makes are marked with it, so installs sharing a host never take or delete each other's.
   */
  readonly instance: string;
  /** Writes the network's conflist (bridge + host-local IPAM + loopback) under the run path. Idempotent. */
  ensureNetwork(spec: NetworkSpec): Promise<{ created: boolean }>;
  /** Removes the conflist, the IPAM state and the bridge link. Missing → ok. */
  deleteNetwork(name: string): Promise<void>;
  /** The networks with a conflist. */
  listNetworks(): Promise<NetworkSpec[]>;
  /**
   * The IPv4 ranges the host already uses, as CIDRs: every route's destination but the default route (bridges of
   * other installs, docker0, Podman's, a VPN's routes) and every interface address's subnet. A new space's subnet
   * avoids them.
   */
  hostSubnets(): Promise<string[]>;
  /** The ports the host's own processes hold, and its addresses, for checking a cell's published ports. */
  hostPortUse(): Promise<HostPortUse>;
  /**
   * CNI ADD of `netnsPath` (e.g. `/proc/<pid>/ns/net`) to the network, interface eth0. Idempotent: an existing
   * attachment of the same container that passes CHECK is returned unchanged (same address).
   */
  attach(network: string, containerId: string, netnsPath: string, options?: AttachOptions): Promise<Attachment>;
  /**
   * CNI DEL. Always attempted, also when the netns is gone (then `netnsPath` is omitted), so the IPAM reservation
   * is released. Missing → ok.
   */
  detach(network: string, containerId: string, netnsPath?: string): Promise<void>;
  /** Attachments the network holds (IPAM reservations / cached results). */
  listAttachments(network?: string): Promise<Attachment[]>;
  /**
   * Garbage collection: DELs every attachment whose container is not in `live` (releasing its address), and removes
   * whatever else the adapter keeps for such containers (masquerade chains). Returns the attachments released.
   */
  gc(live: { network: string; containerId: string }[]): Promise<{ released: Attachment[] }>;
  /**
   * Makes this install's isolation rules those of `spaces`, its whole set of live spaces: cells reach the cells of
   * their own space, of no other space unless its `allowFrom` names theirs, and the outside; with no space, the rules
   * are removed. Idempotent, and nothing changes when the rules are already in place. Calls are serialized.
   */
  ensureIsolation(spaces: IsolationSpec[]): Promise<{ changed: boolean }>;
}

// ------------------------------------------------------------------------------------------------ logs

/** A cell, by its place in the hierarchy (validated names). */
export interface CellLogRef {
  realm: string;
  space: string;
  stack: string;
  cell: string;
}

/** How container logs are bounded: rotate at `maxBytes`, keep `maxFiles` files per container (the live one included). */
export interface LogRotationPolicy {
  maxBytes: number;
  maxFiles: number;
}

/** What one rotation pass did. */
export interface LogRotationReport {
  /** Live files that were rotated (copied and truncated, or truncated). */
  rotated: string[];
  /** Rotated copies removed (beyond `maxFiles`). */
  removed: string[];
}

/**
 * The containers' log files (containerd's shims append to them; see src/runtime/logs/). Every method is idempotent
 * and never reaches outside the cell it names.
 */
export interface ContainerLogs {
  /**
   * Removes a cell's log directory (every container's live and rotated files), then the realm, space and stack
   * directories above it that are left empty. Missing → ok.
   */
  removeCell(cell: CellLogRef): Promise<void>;
  /**
   * Rotates every container log over `policy.maxBytes` and removes rotated copies beyond `policy.maxFiles`. A file
   * that vanishes meanwhile (its cell was deleted) is skipped.
   */
  rotate(policy: LogRotationPolicy): Promise<LogRotationReport>;
}

// ------------------------------------------------------------------------------------------------ cell files

/**
 * The files kukeon owns in a cell, each bind-mounted read-only into the cell's containers: the first three at
 * `/etc/<name>` in the containers on the cell's network, the `host.` ones at `/etc/hosts` and `/etc/resolv.conf` in
 * the containers on the host's network.
 */
export interface CellEtcFiles {
  /** `/etc/hosts`: localhost, the cell itself and the other cells of its space. Rewritten as the space changes. */
  hosts: string;
  /** `/etc/hostname`: the cell's name. */
  hostname: string;
  /** `/etc/resolv.conf`: derived from the host's (see src/engine/resolv-conf.ts). Written when the cell starts. */
  'resolv.conf': string;
  /** The host's `/etc/hosts` as it is, copied when the cell starts (as Docker does for `--network host`). */
  'host.hosts': string;
  /** The host's `/etc/resolv.conf` as it is, copied when the cell starts. */
  'host.resolv.conf': string;
}

/** The host's own resolver files, as found (absent: `undefined`). */
export interface HostResolverFiles {
  /** The host's `/etc/hosts`. */
  hosts?: string;
  /** The host's `/etc/resolv.conf`. */
  resolvConf?: string;
  /** systemd-resolved's list of upstream servers (`/run/systemd/resolve/resolv.conf`), where it runs. */
  systemdResolvConf?: string;
}

/**
 * The per-cell `/etc` files under the run path (`<run path>/etc/<realm>/<space>/<stack>/<cell>/<file>`). A file is
 * always rewritten in place (same inode): a bind mount keeps the inode it was made with, so a file replaced by a
 * rename would never reach the containers.
 */
export interface CellFiles {
  /** Writes the given files of the cell, creating the directory and files if missing. Idempotent. */
  write(cell: CellLogRef, files: Partial<CellEtcFiles>): Promise<void>;
  /** Removes the cell's directory, then the realm, space and stack directories left empty. Missing → ok. */
  removeCell(cell: CellLogRef): Promise<void>;
  /** The cells that have a directory (to remove those of cells that are gone). */
  listCells(): Promise<CellLogRef[]>;
  /** The host's resolver configuration, read where kukeon runs (the daemon reads the host's through /proc/1/root). */
  hostResolverFiles(): Promise<HostResolverFiles>;
}

/** A secret, as the store files it. */
export interface SecretRef {
  realm: string;
  space: string;
  name: string;
}

/** A secret's data: key → bytes. Never logged, never in an event. */
export type SecretData = Record<string, Buffer>;

/** A file of a secret, as placed in a container (`<dir>/<secret>/<key>`, mode 0400, owned by the container's user). */
export interface SecretFile {
  /** Relative to the container's secrets directory: `<secret>/<key>`. */
  path: string;
  data: Buffer;
}

/**
 * The root-only store of secrets' values, beside the event log (`<run path>/secrets/`, src/runtime/secrets/store.ts).
 * The log records only a secret's keys and {@link SecretStore.digest}; the values are here, one file per version,
 * named by its digest, so that what the log names is always what is read.
 */
export interface SecretStore {
  /** The digest the events record of `data` (keyed: it cannot be computed, or a guess checked, without the store). */
  digest(data: SecretData): Promise<string>;
  /** Stores `data` durably (written to a temp file, synced, renamed); returns its digest. Idempotent. */
  put(ref: SecretRef, data: SecretData): Promise<string>;
  /** The data stored under `digest`: NotFound when it is missing, DataLoss when its bytes no longer match the digest. */
  get(ref: SecretRef, digest: string): Promise<SecretData>;
  /** Removes the stored versions of a secret other than `keep` (every one, and its directory, without). Missing → ok. */
  prune(ref: SecretRef, keep?: string): Promise<void>;
  /** Every secret of which the store holds a version (to remove those of deleted secrets). */
  list(): Promise<SecretRef[]>;
  /**
   * Writes `files` under `dir` (a tmpfs of the container) inside the root of the process `pid`: a created task, whose
   * process waits to be started (runc create), so nothing in the container can race the writes. Each file is 0400
   * and owned by the uid and gid that process already runs as (runc sets the container's user before it waits).
   */
  install(pid: number, dir: string, files: SecretFile[]): Promise<void>;
}

/** The ports together, as the engine receives them. */
export interface Runtime {
  containers: ContainerRuntime;
  cgroups: Cgroups;
  networks: Networks;
  logs: ContainerLogs;
  cellFiles: CellFiles;
  secrets: SecretStore;
}
