/**
 * Events of the secret aggregate (stream `secret/<realm>/<space>/<name>`).
 *
 * A secret's values never enter the log: its events carry the key names and a digest of the data (HMAC-SHA256
 * under a key that only the root-only secret store holds, src/runtime/secrets/store.ts), so `kuke history` can say
 * that a secret changed and reconcile can check the store, while nobody who reads the log can test a guess of a
 * value against it. The values themselves live in the store, beside the log.
 */
import { z } from 'zod';

const Labels = z.record(z.string(), z.string());

/** A key of a secret's data, as Kubernetes allows them (`[-._a-zA-Z0-9]+`, at most 253), and never `.`/`..`: it names a file. */
export const SecretKeySchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/)
  .refine((k) => k !== '.' && k !== '..', 'must not be "." or ".."');

/** The digest of a secret's data: `hmac-sha256:<64 hex>` (see the header). */
export const SecretDigestSchema = z.string().regex(/^hmac-sha256:[0-9a-f]{64}$/);

/** What a create or update records of a secret's data: its keys (sorted) and its digest, never a value. */
const SecretContent = {
  keys: z.array(SecretKeySchema).min(1),
  digest: SecretDigestSchema,
  labels: Labels.default({}),
};

/** CreateSecret v1 (command): the secret exists, with this data (already in the store under `digest`). */
export const CreateSecretV1 = z.object(SecretContent).strict();
/** UpdateSecret v1 (command): the secret's data (or labels) changed: a re-apply with other values. */
export const UpdateSecretV1 = z.object(SecretContent).strict();
/**
 * DeleteSecret v1 (command). `users`: the cells (`<stack>/<cell>`) whose containers name the secret, stamped by the
 * engine; the machine refuses the delete while there are some, unless `force` (`kuke delete secret --force`).
 */
export const DeleteSecretV1 = z.object({ users: z.array(z.string()).default([]), force: z.boolean().default(false) }).strict();
