/**
 * Who is on the other end of an API connection, as the kernel knows it: the audit trail records the caller's uid,
 * gid and pid from the socket peer, not from what the client says about itself.
 *
 * Node offers no SO_PEERCRED. The kernel's sock_diag does give, for each unix socket, its inode, its peer's inode and
 * (with `ss -p`) the processes holding it. The accepted socket's inode comes from its fd; the row whose peer is that
 * inode is the client's, and its first holder is the caller. Its credentials are then read from /proc. One `ss` run
 * per connection (about 15 ms on the build VM, asynchronous), run when the first call that records events asks:
 * reads never pay for it.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';

/** A caller's identity as the kernel has it. */
export interface PeerCredentials {
  pid: number;
  /** Effective uid and gid, as SO_PEERCRED would give them. */
  uid: number;
  gid: number;
}

/** The inode of a connected socket (its fd's `socket:[N]` link), undefined when Node does not expose the fd. */
export function socketInode(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * From `ss -xnpH` output, the pid holding the socket whose peer is `inode`. A row ends with the peer's inode and,
 * with -p, `users:(("name",pid=N,fd=M),…)`; addresses before it may hold spaces, so only the end is read.
 */
export function peerPidFromSs(output: string, inode: number): number | undefined {
  for (const line of output.split('\n')) {
    const row = /\s(\d+)(?:\s+users:\((.*)\))?\s*$/.exec(line);
    if (!row || Number(row[1]) !== inode || !line.startsWith('u_')) continue;
    const pid = /pid=(\d+)/.exec(row[2] ?? '')?.[1];
    if (pid !== undefined) return Number(pid);
  }
  return undefined;
}

/** Effective uid and gid of a live process, from /proc/<pid>/status. */
export function processCredentials(pid: number): PeerCredentials | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // Uid:/Gid: list real, effective, saved and filesystem ids.
    const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1];
    const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1];
    return uid === undefined || gid === undefined ? undefined : { pid, uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

const execFileAsync = promisify(execFile);

/**
 * The credentials of the process at the other end of `socket`; undefined when the socket or its peer is gone. Throws
 * when `ss` cannot be run.
 */
export async function peerCredentials(socket: Socket): Promise<PeerCredentials | undefined> {
  const inode = socketInode(socket);
  if (inode === undefined) return undefined;
  const { stdout } = await execFileAsync('ss', ['-xnpH'], { maxBuffer: 16 << 20, timeout: 5_000 });
  const pid = peerPidFromSs(stdout, inode);
  return pid === undefined ? undefined : processCredentials(pid);
}

/**
 * Connections and their callers. grpc-js shows a handler only the connection's `remoteAddress` (call.getPeer()),
 * which a unix socket leaves empty: each connection gets `kukeon-peer:<n>` there, and the credentials under n.
 */
export class PeerRegistry {
  private next = 0;
  private warned = false;
  /** Open connections by name, with their caller once a call has asked for it. */
  private readonly connections = new Map<string, { socket: Socket; credentials?: Promise<PeerCredentials | undefined> }>();

  constructor(private readonly logger?: Logger) {}

  /** Names the connection; its caller is looked up when a call first needs it (reads never do). */
  register(socket: Socket): void {
    const name = `kukeon-peer:${++this.next}`;
    Object.defineProperty(socket, 'remoteAddress', { value: name, configurable: true });
    this.connections.set(name, { socket });
    socket.once('close', () => this.connections.delete(name));
  }

  /** The caller of a call, by its `getPeer()`; looked up once per connection. */
  credentialsOf(peer: string): Promise<PeerCredentials | undefined> {
    const connection = this.connections.get(peer);
    if (!connection) return Promise.resolve(undefined);
    connection.credentials ??= peerCredentials(connection.socket).catch((err: unknown) => {
      if (!this.warned) {
        this.warned = true;
        this.logger?.warn({ err }, 'cannot ask the kernel who is calling (ss from iproute2 is needed): callers are recorded without uid and pid');
      }
      return undefined;
    });
    return connection.credentials;
  }
}
