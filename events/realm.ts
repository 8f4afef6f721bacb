/**
 * Events of the realm aggregate (stream `realm/<realm>`). Commands are imperative, facts past tense.
 */
import { z } from 'zod';

const Labels = z.record(z.string(), z.string());

/** CreateRealm v1 (command): declare the realm; provisioning (namespace, cgroup) follows. */
export const CreateRealmV1 = z.object({
  /** containerd namespace, `<realm>.kukeon.io` unless adopted from an older layout. */
  namespace: z.string().min(1),
  labels: Labels.default({}),
  /** The system realm (hosts kukeond): cannot be deleted through the API. */
  system: z.boolean().default(false),
});
/** RealmProvisioned v1 (fact): namespace and cgroup exist. */
export const RealmProvisionedV1 = z.object({ cgroupPath: z.string() });
/** UpdateRealm v1 (command): compatible changes (labels). */
export const UpdateRealmV1 = z.object({ labels: Labels });
/** DeleteRealm v1 (command). `children` is stamped by the engine: spaces still present. */
export const DeleteRealmV1 = z.object({ children: z.number().int().min(0), force: z.boolean().default(false) });
/** RealmDeprovisioned v1 (fact): namespace and cgroup are gone. */
export const RealmDeprovisionedV1 = z.object({});
