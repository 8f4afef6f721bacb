/**
 * The event catalogue: every event type, its schema at every version, and the upcasters that carry an old
 * payload to the current version. The log validates every payload against this catalogue when it appends and
 * when it reads (after upcasting), so a record that does not decode never reaches a machine.
 *
 * Versioned like a public API: a change to a payload adds a new version and an upcaster `vN → vN+1` (with a
 * comment saying why and since when). Stored bytes are never rewritten.
 */
import type { z } from 'zod';
import { EffectFailedV1, ForceDeletedV1, ReconcileFailedV1 } from './common.js';
import * as realm from './realm.js';
import * as space from './space.js';
import * as stack from './stack.js';
import * as cell from './cell.js';
import * as container from './container.js';
import * as daemon from './daemon.js';
import * as secret from './secret.js';

/** One event type: schemas by version (1-based, contiguous) and upcasters from each old version to the next. */
export interface EventDefinition {
  /** Schema of each version; the last one is current. */
  versions: readonly z.ZodType[];
  /** `upcasters[i]` turns a version i+1 payload into a version i+2 payload. */
  upcasters: readonly ((data: unknown) => unknown)[];
}

function current(schema: z.ZodType): EventDefinition {
  return { versions: [schema], upcasters: [] };
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 15: 'SIGTERM' };

/** The catalogue. Keys are event types; they are unique across aggregate kinds. */
export const EVENT_CATALOG: Record<string, EventDefinition> = {
  EffectFailed: current(EffectFailedV1),
  ReconcileFailed: current(ReconcileFailedV1),
  ForceDeleted: current(ForceDeletedV1),

  CreateRealm: current(realm.CreateRealmV1),
  RealmProvisioned: current(realm.RealmProvisionedV1),
  UpdateRealm: current(realm.UpdateRealmV1),
  DeleteRealm: current(realm.DeleteRealmV1),
  RealmDeprovisioned: current(realm.RealmDeprovisionedV1),

  CreateSpace: current(space.CreateSpaceV1),
  SpaceProvisioned: current(space.SpaceProvisionedV1),
  UpdateSpace: current(space.UpdateSpaceV1),
  DeleteSpace: current(space.DeleteSpaceV1),
  SpaceDeprovisioned: current(space.SpaceDeprovisionedV1),

  CreateStack: current(stack.CreateStackV1),
  StackProvisioned: current(stack.StackProvisionedV1),
  UpdateStack: current(stack.UpdateStackV1),
  DeleteStack: current(stack.DeleteStackV1),
  StackDeprovisioned: current(stack.StackDeprovisionedV1),

  CreateCell: current(cell.CreateCellV1),
  UpdateCell: current(cell.UpdateCellV1),
  StartCell: current(cell.StartCellV1),
  CellStarted: current(cell.CellStartedV1),
  StopCell: current(cell.StopCellV1),
  ContainerExited: current(cell.ContainerExitedV1),
  ContainerFailing: current(cell.ContainerFailingV1),
  ContainerRecovered: current(cell.ContainerRecoveredV1),
  CellStopped: current(cell.CellStoppedV1),
  DeleteCell: {
    versions: [cell.DeleteCellV1, cell.DeleteCellV2],
    upcasters: [
      // v1 → v2 (since 0.1.0, issue 9): deletes also remove the cell's logs unless asked to keep them. v1 offered no
      // choice and left the logs behind by oversight, so a v1 delete still in progress finishes as a delete does now.
      () => ({ keepLogs: false }),
    ],
  },
  CellDeleted: current(cell.CellDeletedV1),

  CreateContainer: current(container.CreateContainerV1),
  ContainerCreated: current(container.ContainerCreatedV1),
  UpdateContainer: current(container.UpdateContainerV1),
  StartContainer: current(container.StartContainerV1),
  TaskStarted: current(container.TaskStartedV1),
  StopContainer: current(container.StopContainerV1),
  TaskExited: {
    versions: [container.TaskExitedV1, container.TaskExitedV2],
    upcasters: [
      // v1 → v2 (since 0.1.0): `exitCode` became `code`, and a death by signal is named, so history can say
      // "SIGKILL" instead of 137. v1 records have no exit time: containerd's was not kept.
      (data) => {
        const v1 = data as z.infer<typeof container.TaskExitedV1>;
        const signal = v1.exitCode > 128 ? SIGNALS[v1.exitCode - 128] : undefined;
        return { pid: v1.pid, code: v1.exitCode, ...(signal ? { signal } : {}) };
      },
    ],
  },
  TaskLost: current(container.TaskLostV1),
  TaskOomKilled: current(container.TaskOomKilledV1),
  RestartScheduled: current(container.RestartScheduledV1),
  RestartsExhausted: current(container.RestartsExhaustedV1),
  RestartsReset: current(container.RestartsResetV1),
  ExecStarted: current(container.ExecStartedV1),
  ExecExited: current(container.ExecExitedV1),
  DeleteContainer: current(container.DeleteContainerV1),
  ContainerDeleted: current(container.ContainerDeletedV1),

  DaemonStarted: current(daemon.DaemonStartedV1),
  DaemonStopped: current(daemon.DaemonStoppedV1),
  LogRepaired: current(daemon.LogRepairedV1),
  AccessDenied: current(daemon.AccessDeniedV1),

  // secrets (issue 11)
  CreateSecret: current(secret.CreateSecretV1),
  UpdateSecret: current(secret.UpdateSecretV1),
  DeleteSecret: current(secret.DeleteSecretV1),
};

/**
 * Audit events: recorded on an aggregate's stream for history (who did what to it) but never fed to its machine,
 * because they do not change what state it is in. The engine appends them in any state of a live aggregate, with
 * `from` = `to`, and replay skips them; so no machine needs a transition for them, and adding one changes no
 * MACHINE_VERSION.
 */
export const AUDIT_EVENTS: ReadonlySet<string> = new Set(['ExecStarted', 'ExecExited']);

/** Current schema version of an event type (undefined if the type is unknown). */
export function currentVersion(type: string): number | undefined {
  return EVENT_CATALOG[type]?.versions.length;
}

/** Outcome of a payload check: the parsed (defaulted) payload, or the problem. */
export type CheckResult = { ok: true; data: unknown } | { ok: false; problem: string };

/** Validates a payload against its type's schema at version `v`. */
export function checkPayload(type: string, v: number, data: unknown): CheckResult {
  const def = EVENT_CATALOG[type];
  if (!def) return { ok: false, problem: `unknown event type "${type}"` };
  const schema = def.versions[v - 1];
  if (!schema) return { ok: false, problem: `event type "${type}" has no version ${v} (current is ${def.versions.length})` };
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'payload';
    return { ok: false, problem: `${type} v${v}: ${where}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, data: parsed.data };
}

/** Carries a payload from version `v` to the current version of its type. Throws on an unknown type/version. */
export function upcastPayload(type: string, v: number, data: unknown): { v: number; data: unknown } {
  const def = EVENT_CATALOG[type];
  if (!def) throw new Error(`unknown event type "${type}"`);
  if (v < 1 || v > def.versions.length) throw new Error(`event type "${type}" has no version ${v}`);
  let out = data;
  for (let from = v; from < def.versions.length; from++) out = def.upcasters[from - 1]!(out);
  return { v: def.versions.length, data: out };
}
