/**
 * Accounting: CPU and memory of a resource's cgroup subtree (cgroups are hierarchical, so a realm's figures include
 * every cell in it — the system realm's include kukeond itself).
 */
import { ErrorKind, KukeError } from '../errors.js';
import type { ResourceView, UsageView } from '../model/resources.js';
import type { Runtime } from '../runtime/ports.js';

/** Usage of the view's cgroup; zeros when the cgroup does not exist (nothing runs there). */
export async function usageOf(runtime: Runtime, view: ResourceView): Promise<UsageView> {
  const path = view.kind === 'Container' ? undefined : view.cgroupPath;
  if (!path) throw new KukeError(ErrorKind.InvalidArgument, `${view.kind.toLowerCase()} "${view.name}" has no cgroup of its own`);
  if (!(await runtime.cgroups.exists(path))) return { cpuNanos: 0, memoryBytes: 0 };
  const usage = await runtime.cgroups.usage(path);
  return { cpuNanos: usage.cpuNanos, memoryBytes: usage.memoryBytes };
}
