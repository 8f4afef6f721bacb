/**
 * Where tests look at cgroups, on v1/hybrid hosts (the memory hierarchy) and on unified v2 hosts alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory of a cgroup path in the hierarchy that carries memory accounting. */
export function cgroupDir(path: string): string {
  const v1 = '/sys/fs/cgroup/memory';
  return join(existsSync(v1) ? v1 : '/sys/fs/cgroup', path);
}

/** The cgroup path of a process, as the memory hierarchy (v1) or the unified one (v2) sees it. */
export function cgroupOf(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const line = lines.find((l) => l.split(':')[1] === 'memory') ?? lines.find((l) => l.startsWith('0::'))!;
  return line.split(':').slice(2).join(':');
}
