/**
 * Our end of a process's stdio when containerd's shim does the other: named pipes (FIFOs) that the shim opens by
 * path, in a directory of their own under the run path (`<run path>/io/exec/<exec id>/{stdin,stdout,stderr}`). The
 * run path is bound at the same path into kukeond's own container, so the daemon in its cell and the shims on the
 * host open the same files.
 *
 * What the runc shim (containerd 1.6+, cmd/containerd-shim-runc-v2/process/io.go copyPipes, runc/platform.go
 * CopyConsole) does with them, and why the opens here are in this order:
 * - stdout/stderr: it opens each for writing *blocking until a reader exists* (and a reader of its own, so that it
 *   never gets SIGPIPE), when the process starts. We open our reader first (non-blocking), plus a writer of our own
 *   that keeps the reader from seeing an end of file before the shim's writer is there; once the start returned,
 *   that writer is closed ({@link FifoEnds.started}), and the end of file we then read is the shim's close, after the
 *   process exited and its output was copied.
 * - stdin: it opens it for reading and copies to the process until end of file, and keeps a writer of its own (closed
 *   by Tasks.CloseIO). We open it read-write, which never blocks on a FIFO, and write into it.
 * - with a terminal, the process's output all comes on stdout (the pty), and there is no stderr.
 *
 * Node cannot make a FIFO (no mkfifo in its API): `mkfifo` does, which the daemon's image carries (src/daemon/image.ts).
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorKind, KukeError } from '../../errors.js';

const run = promisify(execFile);

/** The FIFOs of one process. */
export interface FifoPaths {
  dir: string;
  stdin?: string;
  stdout: string;
  stderr?: string;
}

/** Makes the directory and FIFOs of one process (mode 0600, the directory 0700: they carry what the user types). */
export async function makeFifos(dir: string, which: { stdin: boolean; stderr: boolean }): Promise<FifoPaths> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths: FifoPaths = {
    dir,
    stdout: join(dir, 'stdout'),
    ...(which.stdin ? { stdin: join(dir, 'stdin') } : {}),
    ...(which.stderr ? { stderr: join(dir, 'stderr') } : {}),
  };
  const files = [paths.stdin, paths.stdout, paths.stderr].filter((p): p is string => p !== undefined);
  try {
    await run('mkfifo', ['-m', '600', ...files]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new KukeError(missing ? ErrorKind.FailedPrecondition : ErrorKind.Internal, `could not make the FIFOs of a process in ${dir}: ${missing ? 'mkfifo is not installed' : (err as Error).message}`, {
      ...(missing ? { hint: 'install coreutils (mkfifo)' } : {}),
      cause: err,
    });
  }
  return paths;
}

/** Removes a process's FIFO directory. Missing → ok. Open ends keep working: a FIFO lives while it is open. */
export async function removeFifos(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Our open ends of a process's FIFOs, as streams. */
export class FifoEnds {
  readonly stdout: Socket;
  readonly stderr: Socket | undefined;
  readonly stdin: Socket | undefined;
  /** Writers that keep our readers from an early end of file until the shim's writers are there. */
  private holders: number[] = [];

  private constructor(paths: FifoPaths) {
    const opened: number[] = [];
    const open = (path: string, flags: number) => {
      const fd = openSync(path, flags | constants.O_NONBLOCK);
      opened.push(fd);
      return fd;
    };
    try {
      const reader = (path: string) => {
        const fd = open(path, constants.O_RDONLY);
        this.holders.push(open(path, constants.O_WRONLY));
        return fd;
      };
      const out = reader(paths.stdout);
      const err = paths.stderr ? reader(paths.stderr) : undefined;
      const input = paths.stdin ? open(paths.stdin, constants.O_RDWR) : undefined;
      // Sockets over the fds: libuv reads and writes them non-blocking, with backpressure (pause/resume, write()'s
      // return value). They close their fd when destroyed.
      this.stdout = new Socket({ fd: out, readable: true, writable: false });
      this.stderr = err === undefined ? undefined : new Socket({ fd: err, readable: true, writable: false });
      this.stdin = input === undefined ? undefined : new Socket({ fd: input, readable: false, writable: true });
    } catch (err) {
      for (const fd of opened) closeSync(fd);
      throw err;
    }
  }

  /** Opens our ends, before the process starts (nothing here blocks). */
  static open(paths: FifoPaths): FifoEnds {
    return new FifoEnds(paths);
  }

  /** The process started, so the shim holds its writers: ours go, and the end of file read next is the shim's. */
  started(): void {
    for (const fd of this.holders) closeSync(fd);
    this.holders = [];
  }

  /**
   * Ends our stdin once what was written is flushed. A FIFO cannot be half-closed (shutdown() is for sockets), so
   * the fd is closed; the shim still holds a writer of its own until Tasks.CloseIO.
   */
  async endStdin(): Promise<void> {
    const stdin = this.stdin;
    if (!stdin || stdin.destroyed) return;
    if (stdin.writableLength > 0) await new Promise<void>((resolve) => {
      stdin.once('drain', resolve);
      stdin.once('close', resolve);
    });
    stdin.destroy();
  }

  /** Closes every end. Idempotent. */
  close(): void {
    this.started();
    for (const s of [this.stdout, this.stderr, this.stdin]) s?.destroy();
  }
}
