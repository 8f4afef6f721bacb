/**
 * Events of the space aggregate (stream `space/<realm>/<space>`).
 */
import { z } from 'zod';
import { NetworkSchema } from './specs.js';

const Labels = z.record(z.string(), z.string());

/**
 * Spaces whose cells may open connections to this space's cells (issue 10): `<space>` of the same realm or
 * `<realm>/<space>`. Optional in both events below (added in place, since logs written before it have none: no
 * entry, no other space gets in).
 */
const AllowFrom = z.array(z.string().min(1));

/** CreateSpace v1 (command). The engine allocates the network (first free /24) and stamps it here. */
export const CreateSpaceV1 = z.object({ network: NetworkSchema, labels: Labels.default({}), allowFrom: AllowFrom.optional() });
/** SpaceProvisioned v1 (fact): cgroup and CNI network exist. */
export const SpaceProvisionedV1 = z.object({ cgroupPath: z.string() });
/** UpdateSpace v1 (command): compatible changes (labels; allowFrom, which rewrites the isolation rules). */
export const UpdateSpaceV1 = z.object({ labels: Labels, allowFrom: AllowFrom.optional() });
/** DeleteSpace v1 (command). `children`: stacks still present (stamped by the engine). */
export const DeleteSpaceV1 = z.object({ children: z.number().int().min(0) });
/** SpaceDeprovisioned v1 (fact): network, bridge, IPAM state and cgroup are gone. */
export const SpaceDeprovisionedV1 = z.object({});
