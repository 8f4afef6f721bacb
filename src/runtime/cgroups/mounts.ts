/**
 * Where the cgroup hierarchies are, from /proc/self/mountinfo. Detected, never assumed:
 * - v2 (unified): one cgroup2 mount, usually /sys/fs/cgroup;
 * - v1 (legacy or hybrid): one mount per controller set (cpu, memory, pids, …, name=systemd), and on hybrid hosts a
 *   cgroup2 mount (/sys/fs/cgroup/unified) that holds no controllers but that runc mirrors paths into.
 */

/** One mounted hierarchy. */
export interface Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** Controllers it carries (v1), or ['unified'] for a cgroup2 mount. */
  controllers: string[];
  version: 1 | 2;
}

/** The hierarchies of a host. */
export interface CgroupLayout {
  mode: 'v1' | 'v2';
  hierarchies: Hierarchy[];
}

const V1_CONTROLLERS = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc']);

/** Unescapes a mountinfo field (spaces and friends are written as \040). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses mountinfo text into the cgroup layout. Only the host's own root view counts (mounts whose root is `/`),
 * so a container's bind-mounted sub-hierarchy does not pass for the host's.
 */
export function parseMountinfo(text: string): CgroupLayout {
  const hierarchies: Hierarchy[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const root = fields[3];
    const mountPoint = fields[4] ? unescape(fields[4]) : undefined;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (!mountPoint || root !== '/') continue;
    if (fstype === 'cgroup2') hierarchies.push({ mountPoint, controllers: ['unified'], version: 2 });
    else if (fstype === 'cgroup') {
      const options = superOptions.split(',');
      const controllers = options.filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name='));
      if (controllers.length) hierarchies.push({ mountPoint, controllers, version: 1 });
    }
  }
  const v1 = hierarchies.filter((h) => h.version === 1);
  if (v1.length > 0) return { mode: 'v1', hierarchies };
  const unified = hierarchies.find((h) => h.version === 2);
  if (!unified) return { mode: 'v2', hierarchies: [] };
  return { mode: 'v2', hierarchies: [unified] };
}

/** The hierarchy that carries a controller (v1), or the unified one (v2). */
export function hierarchyFor(layout: CgroupLayout, controller: string): Hierarchy | undefined {
  if (layout.mode === 'v2') return layout.hierarchies[0];
  return layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
}
