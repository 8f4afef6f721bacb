/**
 * Cell templates for tests on the real runtime: containers of the test image with only what the test sets.
 */
import type { CellTemplate, ContainerTemplate } from '../../events/specs.js';

/** A container of `image` running `args` (the image's entrypoint-less busybox: `args` is the whole command). */
export function imageContainer(image: string, name: string, args: string[], extra: Partial<ContainerTemplate> = {}): ContainerTemplate {
  return { name, image, command: [], args, env: [], privileged: false, hostNetwork: false, hostPid: false, mounts: [], resources: {}, restartPolicy: 'never', ...extra };
}

/** A cell of these containers, the first one its root. */
export function cellOf(...containers: ContainerTemplate[]): CellTemplate {
  return { root: containers[0]!.name, containers, labels: {} };
}
