/**
 * fast-check arbitraries of valid manifest pieces (v1beta1, src/model/manifest.ts), shared by the manifest fuzz and
 * the document round trip.
 */
import fc from 'fast-check';

export const name = fc.constantFrom('web', 'db', 'a', 'x-1', 'default', 'lab');
export const image = fc.constantFrom('busybox', 'kukeon.local/busybox:test', 'localhost:5000/a/b:1.0', `nginx@sha256:${'a'.repeat(64)}`, '[::1]:5000/x:y');
export const word = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
export const envEntry = fc.tuple(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,7}$/), fc.string({ maxLength: 12 })).map(([k, v]) => `${k}=${v}`);
export const path = fc.stringMatching(/^(\/[a-z0-9]{1,6}){1,3}$/);
export const resources = fc.record(
  {
    memoryLimitBytes: fc.integer({ min: 1 << 20, max: 1 << 30 }),
    cpuShares: fc.integer({ min: 2, max: 262144 }),
    cpuQuotaUs: fc.integer({ min: 1000, max: 1_000_000 }),
    cpuPeriodUs: fc.integer({ min: 1000, max: 1_000_000 }),
    pidsLimit: fc.integer({ min: 1, max: 10_000 }),
  },
  { requiredKeys: [] },
);
/** A container's fields besides its volumes and ports (each test gives those its own way). */
export const containerFields = {
  image,
  command: fc.oneof(fc.constant('/bin/sh'), fc.array(word, { maxLength: 3 })),
  args: fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
  env: fc.array(envEntry, { maxLength: 4 }),
  workingDir: path,
  privileged: fc.boolean(),
  hostPID: fc.boolean(),
  resources,
  restartPolicy: fc.constantFrom('', 'never', 'always', 'on-failure'),
};
export const labels = fc.dictionary(word, fc.oneof(word, fc.constant('')), { maxKeys: 3 });
export const metadata = fc.record({ name, labels }, { requiredKeys: ['name'] });
export const scope = { realmId: name, spaceId: name, stackId: name };

/**
 * A container of a manifest: an id and `fields` (image required), with `restartBackoffSeconds` and
 * `restartMaxRetries` only under a restart policy that uses them, so that the document is valid.
 */
export function containerOf(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(name, fc.record(fields, { requiredKeys: ['image'] }), fc.option(fc.integer({ min: 0, max: 100 })), fc.option(fc.integer({ min: 1, max: 9 })))
    .map(([id, f, backoff, retries]) => {
      const c: Record<string, unknown> = { id, ...f };
      if (backoff !== null && (c.restartPolicy === 'always' || c.restartPolicy === 'on-failure')) c.restartBackoffSeconds = backoff;
      if (retries !== null && c.restartPolicy === 'on-failure') c.restartMaxRetries = retries;
      return c;
    });
}
