/**
 * Events of the container aggregate (stream `container/<realm>/<space>/<stack>/<cell>/<container>`, the root
 * container named `<cell>_root`).
 */
import { z } from 'zod';
import { ContainerTemplateSchema, PortSchema } from './specs.js';

/** A host port forwarded to the cell (CNI portmap), as src/runtime/ports.ts PortMapping: a published port. */
export const PortMappingSchema = PortSchema.extend({ hostPort: z.number().int().min(1).max(65535) });

/**
 * The CNI attachment a root container's new network namespace gets between the task's create and its start, so that
 * its process starts with its network (issue 10). `options` as src/runtime/ports.ts AttachOptions.
 */
export const NetworkAttachSchema = z.object({
  /** The space's CNI network. */
  network: z.string().min(1),
  options: z.object({ ip: z.string().optional(), portMappings: z.array(PortMappingSchema).optional() }),
});

/**
 * How a container gets its network namespace when its task starts. `attach` on a new one (since 0.1.0, issue 10;
 * absent in older records, whose cells attached after the start).
 */
export const NetworkModeSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('new'), attach: NetworkAttachSchema.optional() }),
  z.object({ mode: z.literal('join'), path: z.string().startsWith('/') }),
  z.object({ mode: z.literal('host') }),
]);

/** CreateContainer v1 (command): create the containerd container (record + rootfs snapshot). */
export const CreateContainerV1 = z.object({
  template: ContainerTemplateSchema,
  root: z.boolean(),
  /** containerd namespace and id, derived from validated names by the engine. */
  namespace: z.string().min(1),
  containerdId: z.string().min(1).max(76),
});
/** ContainerCreated v1 (fact). */
export const ContainerCreatedV1 = z.object({});
/** UpdateContainer v1 (command): new template for a container that is not running. */
export const UpdateContainerV1 = z.object({ template: ContainerTemplateSchema });
/**
 * StartContainer v1 (command): start the task, in the given network namespace. `restart` marks a restart by the
 * container's restart policy, `attempt` its number in the current row of restarts (optional since 0.2.0, issue 12:
 * absent for every other start, and in older records, whose policy restarts therefore count as plain starts).
 */
export const StartContainerV1 = z.object({
  network: NetworkModeSchema,
  restart: z.object({ attempt: z.number().int().min(1) }).optional(),
});
/**
 * TaskStarted v1 (fact): the task runs with this pid; `address` is the one its network namespace got when the start
 * attached it (`10.88.0.2/24`; optional since 0.1.0, issue 10: absent when nothing was attached, and in older records).
 */
export const TaskStartedV1 = z.object({ pid: z.number().int().positive(), address: z.string().optional() });
/** StopContainer v1 (command): signal, then SIGKILL after `graceMs`, and wait for the exit. */
export const StopContainerV1 = z.object({
  signal: z.enum(['SIGTERM', 'SIGKILL', 'SIGINT']),
  graceMs: z.number().int().min(0),
});
/**
 * TaskExited v1 (fact, superseded): the first shape, with `exitCode`. Kept so that logs written before v2 replay.
 */
export const TaskExitedV1 = z.object({
  pid: z.number().int().positive(),
  exitCode: z.number().int(),
});
/**
 * TaskExited v2 (fact): the task exited with `code` (128+N for death by signal N, which `signal` then names),
 * at `exitedAt` as containerd reports it.
 */
export const TaskExitedV2 = z.object({
  pid: z.number().int().positive(),
  code: z.number().int(),
  signal: z.string().optional(),
  exitedAt: z.string().optional(),
});
/**
 * TaskLost v1 (fact, from reconcile): the task vanished with no exit status (host reboot, containerd state
 * wiped). The container counts as exited with an unknown code.
 */
export const TaskLostV1 = z.object({ pid: z.number().int().positive().optional() });
/**
 * TaskOomKilled v1 (fact, from the runtime): the kernel's OOM killer killed a process of the container (its
 * cgroup hit its memory limit). The exit that follows is attributed to it.
 */
export const TaskOomKilledV1 = z.object({});
/**
 * RestartScheduled v1 (fact, from the engine's restart policy; since 0.2.0, issue 12): the container's exit is owed
 * restart number `attempt` of the current row, not before `notBefore` (ISO time: the backoff). Recorded so that a
 * daemon restart neither forgets the backoff nor forgives the row.
 */
export const RestartScheduledV1 = z.object({ attempt: z.number().int().min(1), notBefore: z.iso.datetime() });
/**
 * RestartsExhausted v1 (fact, from the engine; since 0.2.0, issue 12): `on-failure` gave up after `attempts` restarts
 * in a row; the container stays Exited until the cell is started again.
 */
export const RestartsExhaustedV1 = z.object({ attempts: z.number().int().min(0) });
/**
 * RestartsReset v1 (fact, from the engine; since 0.2.0, issue 12): the container has run long enough since its last
 * restart (the engine's restartStableMs, 10 s by default, or its backoff if longer) to count as healthy: the row ends.
 */
export const RestartsResetV1 = z.object({});
/** DeleteContainer v1 (command): stop the task if needed and remove task, snapshot and container record. */
export const DeleteContainerV1 = z.object({});
/** ContainerDeleted v1 (fact). */
export const ContainerDeletedV1 = z.object({});

/** How much of an exec'd command an ExecStarted keeps: its arguments, each cut to this many characters… */
export const EXEC_ARG_MAX_CHARS = 1024;
/** …and this many of them (a command is bounded by the API's request size, not by what the log should hold). */
export const EXEC_ARGS_MAX = 64;

/**
 * ExecStarted v1 (audit, since 0.1.0, issue 12): a process is being exec'd into the container (`kuke exec`), by the
 * event's actor. Recorded before the process starts, so an exec cut short by the daemon's death still shows. Audit
 * events do not go through the container's machine (catalog.ts AUDIT_EVENTS).
 */
export const ExecStartedV1 = z.object({
  /** containerd's exec id, which the ExecExited of the same process repeats. */
  execId: z.string().min(1),
  /** The command and its arguments, as far as kept (EXEC_ARGS_MAX, EXEC_ARG_MAX_CHARS); `truncated` says if cut. */
  command: z.array(z.string().max(EXEC_ARG_MAX_CHARS)).min(1).max(EXEC_ARGS_MAX),
  truncated: z.boolean().optional(),
  tty: z.boolean(),
  stdin: z.boolean(),
  /** The user it runs as when the caller chose one (`-u`). */
  user: z.string().optional(),
});

/**
 * ExecExited v1 (audit, since 0.1.0, issue 12): the exec'd process ended with `code` (128+N for signal N; 127 and 126
 * when the command could not be run, `error` then saying why), or could not be started at all (`error`, no code).
 */
export const ExecExitedV1 = z.object({
  execId: z.string().min(1),
  code: z.number().int().optional(),
  error: z.string().optional(),
});
