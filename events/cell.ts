/**
 * Events of the cell aggregate (stream `cell/<realm>/<space>/<stack>/<cell>`). The cell coordinates its
 * containers, which are aggregates of their own (events/container.ts).
 */
import { z } from 'zod';
import { CellTemplateSchema } from './specs.js';

/** CreateCell v1 (command): declare the cell; nothing runs until StartCell. */
export const CreateCellV1 = z.object({ template: CellTemplateSchema });
/** UpdateCell v1 (command): replace the template of a cell that is not running. */
export const UpdateCellV1 = z.object({ template: CellTemplateSchema });
/** StartCell v1 (command): bring the cell up (cgroup, root container, network, other containers). */
export const StartCellV1 = z.object({});
/** CellStarted v1 (fact): every container runs; the root's pid and the cell's address. */
export const CellStartedV1 = z.object({
  rootPid: z.number().int().positive(),
  /** `10.88.0.2/24`, absent for host-network cells. */
  address: z.string().optional(),
});
/**
 * StopCell v1 (command): stop the containers (others first, root last), then release the network.
 * `kill` sends SIGKILL at once; `stop` sends SIGTERM and waits `graceMs` before SIGKILL.
 */
export const StopCellV1 = z.object({
  mode: z.enum(['stop', 'kill']),
  graceMs: z.number().int().min(0).default(10_000),
});
/**
 * ContainerExited v1 (fact): one of the cell's containers exited on its own (not through a stop). When the root
 * exits the cell winds down to Exited.
 */
export const ContainerExitedV1 = z.object({
  container: z.string(),
  root: z.boolean(),
  code: z.number().int().nullable(),
});
/**
 * ContainerFailing v1 (fact, from the engine; since 0.2.0, issue 12): a container of the running cell (not its root)
 * keeps failing (machines/container.ts isFailing): the cell is Degraded until every such container recovers.
 */
export const ContainerFailingV1 = z.object({ container: z.string().min(1) });
/** ContainerRecovered v1 (fact, from the engine; since 0.2.0, issue 12): that container no longer fails. */
export const ContainerRecoveredV1 = z.object({ container: z.string().min(1) });
/** CellStopped v1 (fact): no container of the cell runs and its network attachment is released. */
export const CellStoppedV1 = z.object({});
/** DeleteCell v1 (command): stop everything and remove containers, network attachment and cgroup. */
export const DeleteCellV1 = z.object({});
/**
 * DeleteCell v2 (command): as v1, and the cell's container logs are removed too unless `keepLogs` (`kuke delete
 * cell --keep-logs`).
 */
export const DeleteCellV2 = z.object({ keepLogs: z.boolean() });
/** CellDeleted v1 (fact): nothing of the cell remains. */
export const CellDeletedV1 = z.object({});
