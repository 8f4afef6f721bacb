/**
 * Desired-state specs as the log records them. Manifests (src/model/manifest.ts) are parsed and normalised into
 * these shapes before a command is dispatched, so every field here is already validated and defaulted.
 *
 * Changing a spec shape is a schema change of every event that embeds it: bump those events' `v` and add an
 * upcaster (events/catalog.ts).
 */
import { z } from 'zod';
import { SecretKeySchema } from './secret.js';

/** DNS-1123 label (the project's one name rule; src/model/names.ts explains and enforces it with messages). */
export const NameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);

/** `KEY=VALUE`. */
export const EnvEntrySchema = z.string().regex(/^[^=\0]+=[^\0]*$/);

/** A mount of a container. */
export const MountSchema = z.object({
  type: z.enum(['bind', 'tmpfs']),
  source: z.string().optional(),
  target: z.string().startsWith('/'),
  readOnly: z.boolean().optional(),
  options: z.array(z.string()).optional(),
});
export type Mount = z.infer<typeof MountSchema>;

/** cgroup limits of a container. */
export const ResourcesSchema = z.object({
  memoryBytes: z.number().int().positive().optional(),
  cpuShares: z.number().int().min(2).max(262144).optional(),
  cpuQuotaUs: z.number().int().positive().optional(),
  cpuPeriodUs: z.number().int().positive().optional(),
  pidsMax: z.number().int().positive().optional(),
});
export type Resources = z.infer<typeof ResourcesSchema>;

/**
 * A port of a container. With `hostPort` it is published: the host forwards `hostIP:hostPort` (every address of the
 * host when `hostIP` is absent) to `containerPort` of the cell (CNI portmap). Without it, it only documents what the
 * container listens on, as in Kubernetes.
 */
export const PortSchema = z.object({
  containerPort: z.number().int().min(1).max(65535),
  hostPort: z.number().int().min(1).max(65535).optional(),
  /** An IPv4 address of the host; absent = all of them. */
  hostIP: z.string().optional(),
  protocol: z.enum(['tcp', 'udp']),
});
export type Port = z.infer<typeof PortSchema>;

/** An environment variable whose value is a secret's key, resolved when the container starts. */
export const SecretEnvSchema = z
  .object({
    /** The variable's name. */
    name: z.string().regex(/^[^=\0]+$/),
    secretKeyRef: z.object({ name: NameSchema, key: SecretKeySchema }).strict(),
  })
  .strict();
export type SecretEnv = z.infer<typeof SecretEnvSchema>;

/** A secret mounted as files, one per key, under `/run/secrets/<name>/`. */
export const SecretMountSchema = z.object({ name: NameSchema }).strict();
/** Capabilities added to and dropped from Docker's default set (issue 11), normalised: `CAP_CHOWN`, or `ALL`. */
export const CapabilitiesSchema = z.object({
  add: z.array(z.string()).default([]),
  drop: z.array(z.string()).default([]),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

/** One container of a cell, normalised. */
export const ContainerTemplateSchema = z.object({
  /** The container's name in the cell (the manifest's `id`). The root container is shown as `<cell>_root`. */
  name: NameSchema,
  image: z.string().min(1),
  /** Entrypoint override (argv), empty = the image's. */
  command: z.array(z.string()).default([]),
  /** Arguments override, empty = the image's cmd (when command is empty too). */
  args: z.array(z.string()).default([]),
  env: z.array(EnvEntrySchema).default([]),
  workingDir: z.string().optional(),
  privileged: z.boolean().default(false),
  hostNetwork: z.boolean().default(false),
  hostPid: z.boolean().default(false),
  mounts: z.array(MountSchema).default([]),
  resources: ResourcesSchema.default({}),
  restartPolicy: z.enum(['never', 'always', 'on-failure']).default('never'),
  /** Wait before every restart but the first (default 30; 0 = none). Only with always / on-failure. */
  restartBackoffSeconds: z.number().int().min(0).optional(),
  /** on-failure gives up after this many restarts in a row (default 5). */
  restartMaxRetries: z.number().int().min(1).optional(),
  /** Ports (published or documented); absent when none, and in every event written before ports existed. */
  ports: z.array(PortSchema).optional(),
  // secrets (issue 11): names of secrets of the cell's space, never their values; absent when none (and in older events).
  /** Environment variables set from a secret's key when the container starts (Kubernetes' env[].valueFrom.secretKeyRef). */
  secretEnv: z.array(SecretEnvSchema).optional(),
  /** Secrets whose keys are files `/run/secrets/<name>/<key>` (Docker's place), on a tmpfs, mode 0400. */
  secrets: z.array(SecretMountSchema).optional(),
  // Security settings (issue 11). Each is absent when not asked for (and in every event written before them), so
  // older templates replay and compare unchanged; the defaults are Docker's (src/runtime/containerd/oci-spec.ts).
  /** `uid[:gid]` or `name[:group]`, resolved in the image's /etc/passwd and /etc/group; absent = the image's User. */
  user: z.string().optional(),
  /** Added to and dropped from Docker's default set: `CAP_`-prefixed upper-case names, or `ALL`. */
  capabilities: CapabilitiesSchema.optional(),
  /** The root filesystem mounted read-only (tmpfs mounts and the cell's /etc files stay as they are). */
  readOnlyRootFilesystem: z.boolean().optional(),
  /** `default` (Docker's profile), `unconfined`, or an absolute path to a profile (JSON) on the daemon's host. */
  seccompProfile: z.string().optional(),
  /** false lets setuid binaries and file capabilities raise privileges; absent = true (privileged: false). */
  noNewPrivileges: z.boolean().optional(),
  /** Namespaced kernel parameters (src/model/security.ts says which). */
  sysctls: z.record(z.string(), z.string()).optional(),
});
export type ContainerTemplate = z.infer<typeof ContainerTemplateSchema>;

/** An IPv4 address in dotted quads, without prefix (`10.86.0.7`). */
export const Ipv4Schema = z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/);

/** A cell: its containers (the root first), labels and address. */
export const CellTemplateSchema = z.object({
  /** Name (in the manifest) of the root container; it owns the cell's network namespace. */
  root: NameSchema,
  containers: z.array(ContainerTemplateSchema).min(1),
  labels: z.record(z.string(), z.string()).default({}),
  /**
   * The cell's address on its space's network, kept across stop/start for the life of the cell: the manifest's
   * static `spec.ip` (`--ip`), or the first free one, chosen when the cell is created (src/engine/cell-network.ts).
   * Absent when the root uses the host's network, and in templates recorded before addresses were stamped (those
   * get one at their next start). Optional, so older events still decode.
   */
  ip: Ipv4Schema.optional(),
  /**
   * The daemon deletes the cell (containers, network, cgroups, logs) once its root exits by itself, as `docker run
   * --rm` (manifest `autoDelete: true`, `kuke create cell --rm`, `kuke run --rm`; issue 12). Optional: absent (false)
   * in older events.
   */
  autoDelete: z.boolean().optional(),
});
export type CellTemplate = z.infer<typeof CellTemplateSchema>;

/** A space's network, fixed when the space is created. */
export const NetworkSchema = z.object({
  name: z.string().min(1),
  bridge: z.string().min(1).max(15),
  subnet: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/),
  ipMasq: z.boolean(),
});
export type Network = z.infer<typeof NetworkSchema>;

/** An error as recorded in the log (an effect that failed). */
export const RecordedErrorSchema = z.object({
  kind: z.string(),
  message: z.string(),
});
export type RecordedError = z.infer<typeof RecordedErrorSchema>;

/** Where an aggregate sits in the hierarchy. */
export const RealmRefSchema = z.object({ realm: NameSchema });
export const SpaceRefSchema = RealmRefSchema.extend({ space: NameSchema });
export const StackRefSchema = SpaceRefSchema.extend({ stack: NameSchema });
export const CellRefSchema = StackRefSchema.extend({ cell: NameSchema });
