/**
 * Runs one CNI plugin binary by the CNI environment protocol (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_PATH; the network configuration on stdin; a result or an error as JSON on stdout). No shell.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';

/** A CNI command. */
export type CniCommand = 'ADD' | 'CHECK' | 'DEL' | 'VERSION';

/** What the plugin needs to know about the attachment. */
export interface CniArgs {
  command: CniCommand;
  containerId: string;
  /** Path of the network namespace; empty when it no longer exists (DEL only). */
  netns: string;
  ifname: string;
}

/** A CNI error object. */
interface CniError {
  code?: number;
  msg?: string;
  details?: string;
}

/** Finds a plugin in the bin dirs; NotFound naming the dirs searched if it is in none. */
export function findPlugin(type: string, binDirs: string[]): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) throw new KukeError(ErrorKind.InvalidArgument, `invalid CNI plugin type "${type}"`);
  for (const dir of binDirs) {
    const path = join(dir, type);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next dir
    }
  }
  throw new KukeError(ErrorKind.NotFound, `CNI plugin "${type}" not found in ${binDirs.join(', ')}`, {
    hint: 'install containernetworking-plugins (apt-get install containernetworking-plugins) or pass --cni-bin-dir',
  });
}

/** Runs a plugin; resolves with its parsed stdout (a result), rejects with a KukeError carrying its message. */
export function execPlugin(type: string, binDirs: string[], args: CniArgs, config: object, timeoutMs = 30_000): Promise<unknown> {
  const binary = findPlugin(type, binDirs);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: args.command,
        CNI_CONTAINERID: args.containerId,
        CNI_NETNS: args.netns,
        CNI_IFNAME: args.ifname,
        CNI_PATH: binDirs.join(':'),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new KukeError(ErrorKind.Internal, `CNI plugin ${type} could not run: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) {
        if (!stdout.trim()) return resolve(undefined);
        try {
          return resolve(JSON.parse(stdout));
        } catch {
          return reject(new KukeError(ErrorKind.Internal, `CNI plugin ${type} ${args.command} printed something that is not JSON: ${stdout.slice(0, 200)}`));
        }
      }
      let error: CniError = {};
      try {
        error = JSON.parse(stdout) as CniError;
      } catch {
        error = { msg: (stdout || stderr).trim().slice(0, 300) || (signal ? `killed by ${signal}` : `exit code ${code}`) };
      }
      // CNI error codes: 1-7 are protocol/config problems (ours to fix), 11+ are "try again later".
      const kind = error.code !== undefined && error.code >= 11 ? ErrorKind.Unavailable : error.code === 7 || error.code === 4 ? ErrorKind.InvalidArgument : ErrorKind.Internal;
      reject(new KukeError(kind, `CNI ${type} ${args.command} for ${args.containerId} failed: ${error.msg ?? 'unknown error'}${error.details ? ` (${error.details})` : ''}`));
    });
    child.stdin.end(JSON.stringify(config));
  });
}
