/**
 * Isolation between spaces, as the engine sees it: the whole rule set of the install is computed from the live
 * spaces (their bridges and `allowFrom`) and handed to the Networks port, which writes it (runtime/cni/isolation.ts).
 * Called by the space effects (provision, update, deprovision), by forced deletes and by every full reconcile pass
 * (after a reboot, iptables is empty).
 *
 * `allowFrom` entries name spaces: `<space>` in the space's own realm, or `<realm>/<space>`. An entry that names no
 * live space is skipped (its space is gone, or is declared later in the same manifest); the operations refuse it when
 * the space is applied. Nothing from a workload realm ever enters a space of the system realm.
 */
import { isGone } from '../../machines/index.js';
import { LEGACY_SYSTEM_REALM, SYSTEM_REALM } from '../model/names.js';
import { streamOf } from '../model/streams.js';
import type { IsolationSpec, Runtime } from '../runtime/ports.js';
import type { Engine } from './engine.js';

interface SpaceContext {
  identity: { realm: string; space: string };
  attributes: { network?: { name: string; bridge: string }; allowFrom?: string[] } | null;
}

/** Whether a realm is the system realm (the protected one; by name for logs that predate the flag). */
export function isSystemRealm(engine: Engine, realm: string): boolean {
  if (realm === SYSTEM_REALM || realm === LEGACY_SYSTEM_REALM) return true;
  const ctx = engine.get(streamOf({ kind: 'realm', realm }))?.snapshot.context as { protected?: boolean } | undefined;
  return ctx?.protected === true;
}

/** `<realm>/<space>` of an allowFrom entry written in a space of `realm`. */
export function allowFromKey(realm: string, entry: string): string {
  return entry.includes('/') ? entry : `${realm}/${entry}`;
}

/**
 * The isolation specs of the install's spaces: every live space with a network, except those being deleted
 * (their bridge goes with them) and the one `except` names (the stream of a space a forced delete is removing).
 */
export function isolationSpecs(engine: Engine, options: { except?: string } = {}): IsolationSpec[] {
  const spaces = engine
    .list('space/', { live: true })
    .filter((a) => a.stream !== options.except && !isGone(String(a.snapshot.value)) && String(a.snapshot.value) !== 'Deleting')
    .map((a) => a.snapshot.context as SpaceContext)
    .filter((c) => c.attributes?.network?.name && c.attributes.network.bridge);
  const networkOf = new Map(spaces.map((c) => [`${c.identity.realm}/${c.identity.space}`, c.attributes!.network!.name]));
  return spaces.map((c) => {
    const system = isSystemRealm(engine, c.identity.realm);
    const allowFrom = (c.attributes!.allowFrom ?? [])
      .map((entry) => allowFromKey(c.identity.realm, entry))
      .filter((key) => !system || isSystemRealm(engine, key.split('/')[0]!))
      .map((key) => networkOf.get(key))
      .filter((n): n is string => n !== undefined);
    return { network: c.attributes!.network!.name, bridge: c.attributes!.network!.bridge, allowFrom: [...new Set(allowFrom)].sort() };
  });
}

/** Writes the isolation rules of the install's live spaces (but `except`, see {@link isolationSpecs}). Idempotent. */
export async function ensureIsolation(engine: Engine, runtime: Runtime, options: { except?: string } = {}): Promise<{ changed: boolean }> {
  return runtime.networks.ensureIsolation(isolationSpecs(engine, options));
}
