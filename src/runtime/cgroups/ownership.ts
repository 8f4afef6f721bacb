/**
 * Which install owns a cgroup root. Every cgroup kukeon makes lives under its install's cgroup root (`--cgroup-root`,
 * default /kukeon), so owning the root is owning all of them. Installs that share a host each need their own root;
 * one that was given another's by mistake must neither reuse nor remove that install's groups.
 *
 * The mark is an empty child group of the root, `<root>/kukeon-instance.<install id>` (the id kept under the run
 * path, cni/ownership.ts). A group cannot hold a file, and extended attributes on cgroupfs need kernel support and,
 * on v1, the `xattr` mount option that controller hierarchies usually lack; a child group is visible in every
 * hierarchy, v1 or v2, with nothing but mkdir. Its name cannot be a realm's: realm names are DNS labels, without dots.
 *
 * - Before a group under the root is created, the root is claimed: our mark is made unless another install's mark
 *   is there, in which case nothing is created (FailedPrecondition naming both ids).
 * - Before a group under the root is removed, another install's mark refuses it. An unmarked root (made before marks
 *   existed) may be removed from as before: removal still refuses groups that hold processes.
 */
import { ErrorKind, KukeError } from '../../errors.js';
import { INSTANCE_ID } from '../../model/names.js';
import type { CgroupUsage, Cgroups, ResourceLimits } from '../ports.js';

/** Name prefix of the mark group under a cgroup root. */
export const CGROUP_MARK_PREFIX = 'kukeon-instance.';

/** The mark group's name for install `instance`. */
export function cgroupMark(instance: string): string {
  return `${CGROUP_MARK_PREFIX}${instance}`;
}

/** The install ids whose marks are among `children` (a root's child group names). */
export function marksIn(children: string[]): string[] {
  return children
    .filter((name) => name.startsWith(CGROUP_MARK_PREFIX))
    .map((name) => name.slice(CGROUP_MARK_PREFIX.length))
    .filter((id) => INSTANCE_ID.test(id));
}

/** Where the cgroups of an install live, and who it is. */
export interface CgroupOwner {
  /** The install's normalized cgroup root, e.g. /kukeon. */
  root: string;
  /** The install's id (16 hex digits). */
  instance: string;
}

/**
 * `inner` with the root's ownership checked before anything under it is created or removed (see the module's
 * comment). Reads pass through.
 *
 * @example ownedCgroups(await createCgroups(), { root: '/kukeon', instance: networks.instance })
 */
export function ownedCgroups(inner: Cgroups, owner: CgroupOwner): Cgroups {
  if (!INSTANCE_ID.test(owner.instance)) throw new KukeError(ErrorKind.Internal, `instance id ${JSON.stringify(owner.instance)} is not 16 hex digits`);
  const mark = `${owner.root}/${cgroupMark(owner.instance)}`;
  const under = (path: string) => path === owner.root || path.startsWith(`${owner.root}/`);
  const others = async () => marksIn(await inner.children(owner.root)).filter((id) => id !== owner.instance);
  const refusal = (other: string, doing: string) =>
    new KukeError(ErrorKind.FailedPrecondition, `cgroup root ${owner.root} belongs to another kukeon install (${other}), not to this one (${owner.instance}); not ${doing}`, {
      hint: `give each install its own cgroup root (--cgroup-root); if install ${other} is gone, remove its mark, the empty cgroup ${owner.root}/${cgroupMark(other)}, in every hierarchy`,
    });

  /** Makes our mark unless another install's is there; after a race with another install's claim, neither keeps one. */
  const claim = async (doing: string) => {
    const before = await others();
    if (before.length > 0) throw refusal(before[0]!, doing);
    await inner.ensure(mark);
    const after = await others();
    if (after.length > 0) {
      await inner.remove(mark);
      throw refusal(after[0]!, doing);
    }
  };

  return {
    get mode() {
      return inner.mode;
    },
    async ensure(path: string, limits?: ResourceLimits): Promise<{ created: boolean }> {
      if (under(path)) await claim(`creating cgroup ${path}`);
      return inner.ensure(path, limits);
    },
    async remove(path: string): Promise<void> {
      if (under(path)) {
        const other = (await others())[0];
        if (other !== undefined) throw refusal(other, `removing cgroup ${path}`);
      }
      return inner.remove(path);
    },
    exists: (path: string): Promise<boolean> => inner.exists(path),
    pids: (path: string, options?: { recursive?: boolean }): Promise<number[]> => inner.pids(path, options),
    usage: (path: string): Promise<CgroupUsage> => inner.usage(path),
    children: (path: string): Promise<string[]> => inner.children(path),
  };
}
