/**
 * The realm lifecycle (a tenant: containerd namespace `<realm>.kukeon.io` and cgroup `<root>/<realm>`).
 * The statechart is the scope chart (machines/scope.ts):
 *
 *   Absent ─CreateRealm→ Creating ─RealmProvisioned→ Ready ─DeleteRealm [no spaces, not system]→ Deleting
 *   Deleting ─RealmDeprovisioned→ Deleted          Creating|Deleting ─EffectFailed→ Failed ─CreateRealm→ Creating
 */
import { scopeMachine } from './scope.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 3;

export interface RealmIdentity extends Record<string, string> {
  realm: string;
}
export interface RealmAttributes {
  namespace: string;
}

/** Effects: `provisionRealm` (namespace + cgroup) and `deprovisionRealm`. */
export const EFFECTS = { provision: 'provisionRealm', deprovision: 'deprovisionRealm' } as const;

export const realmMachine = scopeMachine<RealmIdentity, RealmAttributes>(
  'realm',
  {
    create: 'CreateRealm',
    provisioned: 'RealmProvisioned',
    update: 'UpdateRealm',
    delete: 'DeleteRealm',
    deprovisioned: 'RealmDeprovisioned',
  },
  EFFECTS,
  (event) => ({ namespace: event.namespace as string }),
);
