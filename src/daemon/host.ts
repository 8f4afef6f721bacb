/**
 * Small host facts the daemon and `kuke init` need: groups from /etc/group, whether a socket answers.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * The gid of a group (a number passes through, and so does the gid of `name:gid`, how kuke init hands the daemon a
 * group it resolved on the host), or undefined if it does not exist.
 */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const resolved = /^[^:]+:(\d+)$/.exec(name)?.[1];
  if (resolved !== undefined) return Number(resolved);
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** Whether something accepts connections on a unix socket (tells a live daemon from a stale socket file). */
export function socketAnswers(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** How a group given as `name:gid` (or a name, or a gid) reads in messages: its name. */
export function groupName(group: string): string {
  return group.replace(/:\d+$/, '');
}
