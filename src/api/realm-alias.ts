/**
 * Older layouts: hosts bootstrapped by earlier versions called the system realm `kuke-system` (namespace
 * `kuke-system.kukeon.io`). `kuke init` adopts such a realm as the system realm `kukeon-system` keeping its old
 * namespace, and both names then address it.
 */
import { LEGACY_SYSTEM_REALM, SYSTEM_REALM } from '../model/names.js';
import type { Query } from '../engine/queries.js';
import type { RealmView } from '../model/resources.js';

/** The realm a user-given name means: `kuke-system` and `kukeon-system` both mean the system realm. */
export function resolveRealmAlias(name: string, realms: readonly RealmView[]): string {
  if (realms.some((r) => r.name === name)) return name;
  if (name === LEGACY_SYSTEM_REALM || name === SYSTEM_REALM) {
    const system = realms.find((r) => r.system);
    if (system) return system.name;
  }
  return name;
}

/** A query with its realm (or, for realms, its name) resolved through {@link resolveRealmAlias}. */
export function aliasQuery(query: Query, realms: readonly RealmView[]): Query {
  if (query.kind === 'realm') return query.name === undefined ? query : { ...query, name: resolveRealmAlias(query.name, realms) };
  return { ...query, realm: resolveRealmAlias(query.realm, realms) } as Query;
}
