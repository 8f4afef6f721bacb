/**
 * The stack lifecycle (a naming and accounting scope: cgroup `<root>/<realm>/<space>/<stack>`). The statechart
 * is the scope chart (machines/scope.ts):
 *
 *   Absent ─CreateStack→ Creating ─StackProvisioned→ Ready ─DeleteStack [no cells]→ Deleting
 *   Deleting ─StackDeprovisioned→ Deleted          Creating|Deleting ─EffectFailed→ Failed ─CreateStack→ Creating
 */
import { scopeMachine } from './scope.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 3;

export interface StackIdentity extends Record<string, string> {
  realm: string;
  space: string;
  stack: string;
}

/** Effects: `provisionStack` (cgroup) and `deprovisionStack`. */
export const EFFECTS = { provision: 'provisionStack', deprovision: 'deprovisionStack' } as const;

export const stackMachine = scopeMachine<StackIdentity, Record<string, never>>(
  'stack',
  {
    create: 'CreateStack',
    provisioned: 'StackProvisioned',
    update: 'UpdateStack',
    delete: 'DeleteStack',
    deprovisioned: 'StackDeprovisioned',
  },
  EFFECTS,
  () => ({}),
);
