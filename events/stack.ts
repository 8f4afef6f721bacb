/**
 * Events of the stack aggregate (stream `stack/<realm>/<space>/<stack>`).
 */
import { z } from 'zod';

const Labels = z.record(z.string(), z.string());

/** CreateStack v1 (command). */
export const CreateStackV1 = z.object({ labels: Labels.default({}) });
/** StackProvisioned v1 (fact): cgroup exists. */
export const StackProvisionedV1 = z.object({ cgroupPath: z.string() });
/** UpdateStack v1 (command): compatible changes (labels). */
export const UpdateStackV1 = z.object({ labels: Labels });
/** DeleteStack v1 (command). `children`: cells still present (stamped by the engine). */
export const DeleteStackV1 = z.object({ children: z.number().int().min(0) });
/** StackDeprovisioned v1 (fact): cgroup is gone. */
export const StackDeprovisionedV1 = z.object({});
