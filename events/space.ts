/**
 * Events of the space aggregate (stream `space/<realm>/<space>`).
 */
import { z } from 'zod';
import { NetworkSchema } from './specs.js';

const Labels = z.record(z.string(), z.string());

/** CreateSpace v1 (command). The engine allocates the network (first free /24) and stamps it here. */
export const CreateSpaceV1 = z.object({ network: NetworkSchema, labels: Labels.default({}) });
/** SpaceProvisioned v1 (fact): cgroup and CNI network exist. */
export const SpaceProvisionedV1 = z.object({ cgroupPath: z.string() });
/** UpdateSpace v1 (command): compatible changes (labels). */
export const UpdateSpaceV1 = z.object({ labels: Labels });
/** DeleteSpace v1 (command). `children`: stacks still present (stamped by the engine). */
export const DeleteSpaceV1 = z.object({ children: z.number().int().min(0) });
/** SpaceDeprovisioned v1 (fact): network, bridge, IPAM state and cgroup are gone. */
export const SpaceDeprovisionedV1 = z.object({});
