import { describe, expect, it } from 'vitest';
import { peerPidFromSs, processCredentials } from '../../../src/daemon/peer.js';

// `ss -xnpH` as iproute2 6.1 prints it: the accepted socket (inode 657152, bound to the path) and its client (657151).
const SS = [
  'u_str ESTAB 0      0                        * 657156 * 657157 users:(("node",pid=26340,fd=27))',
  'u_str ESTAB 0      0                        * 657151 * 657152 users:(("kuke",pid=4242,fd=20),("sh",pid=4240,fd=20))',
  'u_str ESTAB 0      0      /run/kukeon/kukeond.sock 657152 * 657151 users:(("kukeond",pid=99,fd=21))',
  'u_str ESTAB 0      0      /tmp/a path with 657152 spaces.sock 700001 * 700000 users:(("x",pid=7,fd=3))',
  'u_str ESTAB 0      0                        * 800001 * 800002',
].join('\n');

describe('finding the caller in ss output', () => {
  it("takes the first holder of the socket whose peer is the daemon's end", () => {
    expect(peerPidFromSs(SS, 657152)).toBe(4242);
    expect(peerPidFromSs(SS, 657151)).toBe(99);
  });

  it('reads only the end of a row, so numbers inside a path never match', () => {
    expect(peerPidFromSs(SS, 700000)).toBe(7);
    expect(peerPidFromSs(SS, 657153)).toBeUndefined();
  });

  it('finds nobody when the holder is not shown (another pid namespace, or no -p)', () => {
    expect(peerPidFromSs(SS, 800002)).toBeUndefined();
  });

  it("reads a live process's effective ids, and none for a missing pid", () => {
    expect(processCredentials(process.pid)).toEqual({ pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() });
    expect(processCredentials(2 ** 22 + 1)).toBeUndefined();
  });
});
