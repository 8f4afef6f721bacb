/**
 * Reading `kuke get … -o json` in tests: it prints manifest documents (src/model/documents.ts), and most tests look
 * at what kukeon observed, i.e. a document's `status`, together with the resource's name.
 */

/** A document's status with its `metadata.name` as `name` (a container's status has its own, `<cell>_root`). */
export function observed<T>(doc: unknown): T {
  const d = doc as { metadata: { name: string }; status: Record<string, unknown> };
  return { name: d.metadata.name, ...d.status } as T;
}

/** The status (with the name) of the one resource `kuke get <kind> <name> -o json` printed. */
export function statusOf<T>(stdout: string): T {
  return observed<T>(JSON.parse(stdout));
}

/** The statuses (with names) of the list `kuke get <kinds> -o json` printed. */
export function statusesOf<T>(stdout: string): T[] {
  return (JSON.parse(stdout) as unknown[]).map((d) => observed<T>(d));
}

/** The names of the resources of a list `kuke get <kinds> -o json` printed. */
export function namesOf(stdout: string): string[] {
  return (JSON.parse(stdout) as { metadata: { name: string } }[]).map((d) => d.metadata.name);
}
