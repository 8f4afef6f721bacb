/**
 * The space lifecycle (a network and resource envelope: CNI network `<realm>-<space>` on bridge `k-<hash>` with
 * its own /24, and cgroup `<root>/<realm>/<space>`). The statechart is the scope chart (machines/scope.ts):
 *
 *   Absent ─CreateSpace→ Creating ─SpaceProvisioned→ Ready ─DeleteSpace [no stacks]→ Deleting
 *   Ready ─UpdateSpace [another allowFrom]→ Updating ─SpaceProvisioned→ Ready   (the isolation rules rewritten)
 *   Deleting ─SpaceDeprovisioned→ Deleted          Creating|Deleting ─EffectFailed→ Failed ─CreateSpace→ Creating
 */
import type { Network } from '../events/specs.js';
import { scopeMachine } from './scope.js';

/** Bumped whenever a transition or an assignment changes: invalidates stored snapshots. */
export const MACHINE_VERSION = 3;

export interface SpaceIdentity extends Record<string, string> {
  realm: string;
  space: string;
}
export interface SpaceAttributes {
  network: Network;
  /** Spaces whose cells may open connections to this one's (`<space>` or `<realm>/<space>`), as applied. */
  allowFrom: string[];
}

/** The scope states, and `Updating` (another allowFrom being written into the isolation rules). */
export const SPACE_STATES = ['Absent', 'Creating', 'Ready', 'Updating', 'Failed', 'Deleting', 'Deleted'] as const;

/** Effects: `provisionSpace` (cgroup + CNI network) and `deprovisionSpace`. */
export const EFFECTS = { provision: 'provisionSpace', deprovision: 'deprovisionSpace' } as const;

export const spaceMachine = scopeMachine<SpaceIdentity, SpaceAttributes>(
  'space',
  {
    create: 'CreateSpace',
    provisioned: 'SpaceProvisioned',
    update: 'UpdateSpace',
    delete: 'DeleteSpace',
    deprovisioned: 'SpaceDeprovisioned',
  },
  EFFECTS,
  (event) => ({ network: event.network as Network, allowFrom: (event.allowFrom as string[] | undefined) ?? [] }),
  (attributes, event) => {
    const allowFrom = event.allowFrom as string[] | undefined;
    if (!attributes || allowFrom === undefined || JSON.stringify(allowFrom) === JSON.stringify(attributes.allowFrom ?? [])) return undefined;
    return { ...attributes, allowFrom };
  },
);
