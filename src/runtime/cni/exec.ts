/**
 * Runs one CNI plugin binary by the CNI environment protocol: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_PATH (and CNI_ARGS) in the environment, the plugin's network configuration as JSON on stdin, a
 * result or a CNI error object (`{code, msg, details}`) as JSON on stdout. Spawned directly (never a shell), with a
 * timeout. Failures come back as KukeErrors whose message carries the plugin's own `msg`.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { ErrorKind, KukeError } from '../../errors.js';

/** A CNI command. */
export type CniCommand = 'ADD' | 'CHECK' | 'DEL' | 'VERSION';

/** The CNI environment of one invocation. */
export interface CniInvocation {
  command: CniCommand;
  /** CNI_CONTAINERID (required for ADD, CHECK, DEL). */
  containerId: string;
  /** CNI_NETNS: the network namespace path; empty when it no longer exists (DEL only). */
  netns: string;
  /** CNI_IFNAME, the interface inside the netns. */
  ifname: string;
  /** CNI_ARGS as key/value pairs (joined `K=V;K=V`); optional. */
  args?: [string, string][];
}

/** How a plugin is found and run. */
export interface ExecOptions {
  /** Plugin directories, searched in order: the first one holding the plugin wins. Also passed as CNI_PATH. */
  binDirs: string[];
  /** Kills the plugin (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

/** A CNI error object, as plugins print it on stdout when they fail. */
export interface CniErrorObject {
  code?: number;
  msg?: string;
  details?: string;
}

/** The default time a plugin may take. Plugins answer in tens of ms; only a stuck iptables lock takes longer. */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 30_000;

const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Finds a plugin binary in the bin dirs (the first that has an executable of that name).
 * Throws NotFound naming the plugin and every directory searched.
 */
export function findPlugin(type: string, binDirs: string[]): string {
  if (!PLUGIN_TYPE.test(type)) throw new KukeError(ErrorKind.InvalidArgument, `invalid CNI plugin type "${type}"`);
  for (const dir of binDirs) {
    const path = join(dir, type);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here: try the next directory
    }
  }
  throw new KukeError(ErrorKind.NotFound, `CNI plugin "${type}" not found in ${binDirs.join(', ') || '(no directories)'}`, {
    hint: 'install containernetworking-plugins (apt-get install containernetworking-plugins) or point --cni-bin-dir / KUKEON_CNI_BIN_DIRS at the plugins',
  });
}

/**
 * The KukeError kind for a CNI error code (SPEC "Error"): 1, 2, 4, 6, 7 are configuration or protocol mistakes
 * (ours); 3 is an unknown container; 11 means "try again later"; 5 (I/O), 999 (the plugin skeleton's generic
 * code) and plugin-specific codes are internal failures, except an exhausted address range or an address asked
 * for that another container holds, which the user fixes.
 */
export function errorKindOf(error: CniErrorObject): ErrorKind {
  if (/no IP addresses available|requested IP address .* is not available/i.test(error.msg ?? '')) return ErrorKind.FailedPrecondition;
  switch (error.code) {
    case 1:
    case 2:
    case 4:
    case 6:
    case 7:
      return ErrorKind.InvalidArgument;
    case 3:
      return ErrorKind.NotFound;
    case 11:
      return ErrorKind.Unavailable;
    default:
      return ErrorKind.Internal;
  }
}

/** Parses what a failed plugin printed: a CNI error object, else its raw output as the message. */
export function parseCniError(stdout: string, stderr: string, fallback: string): CniErrorObject {
  try {
    const parsed = JSON.parse(stdout) as unknown;
    if (parsed && typeof parsed === 'object' && ('msg' in parsed || 'code' in parsed)) return parsed as CniErrorObject;
  } catch {
    // not JSON: fall through to the raw text
  }
  return { msg: (stdout.trim() || stderr.trim()).slice(0, 500) || fallback };
}

/**
 * Runs `type` with the invocation's environment and `config` on stdin. Resolves with the parsed JSON result (or
 * undefined when the plugin printed nothing, as DEL and CHECK do); rejects with a KukeError of the kind
 * {@link errorKindOf} gives, Unavailable when it timed out, NotFound when the plugin is missing.
 */
export function execPlugin(type: string, invocation: CniInvocation, config: object, options: ExecOptions): Promise<unknown> {
  const binary = findPlugin(type, options.binDirs);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
  const what = `CNI ${type} ${invocation.command}${invocation.containerId ? ` for ${invocation.containerId}` : ''}`;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], {
      // A clean environment: plugins read only the CNI_* variables, and PATH for the tools they call (iptables).
      env: {
        PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: invocation.command,
        CNI_CONTAINERID: invocation.containerId,
        CNI_NETNS: invocation.netns,
        CNI_IFNAME: invocation.ifname,
        CNI_PATH: options.binDirs.join(':'),
        ...(invocation.args?.length ? { CNI_ARGS: invocation.args.map(([k, v]) => `${k}=${v}`).join(';') } : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // EPIPE on stdin when a plugin exits without reading its config: its exit code tells the story.
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new KukeError(ErrorKind.Internal, `${what}: could not run ${binary}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        if (!stdout.trim()) return resolve(undefined);
        try {
          return resolve(JSON.parse(stdout));
        } catch {
          return reject(new KukeError(ErrorKind.Internal, `${what} printed something that is not JSON: ${stdout.slice(0, 200)}`));
        }
      }
      if (timedOut) {
        return reject(
          new KukeError(ErrorKind.Unavailable, `${what} did not finish within ${timeoutMs} ms and was killed`, {
            hint: 'a plugin usually waits on the iptables lock or a stuck netlink call; try again',
          }),
        );
      }
      const error = parseCniError(stdout, stderr, signal ? `killed by ${signal}` : `exit code ${code}`);
      const detail = error.details ? ` (${error.details})` : '';
      const codeText = error.code !== undefined ? ` [CNI error ${error.code}]` : '';
      reject(new KukeError(errorKindOf(error), `${what} failed: ${error.msg ?? 'no message'}${detail}${codeText}`));
    });
    child.stdin.end(JSON.stringify(config));
  });
}
