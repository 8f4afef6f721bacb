/**
 * What a cell template must satisfy before it is recorded, whichever way it came (a manifest, `kuke create cell`,
 * the CreateCell RPC): names, image references (./image-ref.ts), the bounds of ./limits.ts, and the rules that span
 * fields (one root that exists, distinct container names, restart knobs that need a restarting policy). The field
 * schemas here are shared with the manifest schemas (./manifest.ts), so a manifest and a request are refused for
 * the same reasons with the same words.
 *
 * The log's own schemas (events/specs.ts) stay looser on purpose: old logs must replay.
 */
import { z } from 'zod';
import { SecretKeySchema } from '../../events/secret.js';
import { Ipv4Schema, type CellTemplate } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import { imageRefMessage, imageRefProblem } from './image-ref.js';
import { formatIssues, quote, strictObject } from './issues.js';
import * as L from './limits.js';
import { nameProblem } from './names.js';
import { cellPortsProblem, isIPv4 } from './ports.js';
import { capabilityProblem, normalizeCapability, seccompProfileProblem, sysctlProblem, sysctlValueProblem, userProblem } from './security.js';

/** A cell's static address: an IPv4 address without prefix (whether it fits its space is checked at create). */
export const ipSchema = z.string().superRefine((value, ctx) => {
  if (!Ipv4Schema.safeParse(value).success) ctx.addIssue({ code: 'custom', message: `${quote(value)} is not an IPv4 address; use four numbers 0-255 without a prefix, e.g. 10.86.0.7` });
});

/** A DNS-1123 label (names.ts has the rule and its messages). */
export const nameSchema = z.string().superRefine((value, ctx) => {
  const problem = nameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `invalid name ${quote(value)}: ${problem}` });
});

/** An image reference, checked against the distribution grammar. */
export const imageSchema = z.string().superRefine((value, ctx) => {
  const problem = value === '' ? 'is empty' : imageRefProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: imageRefMessage(value, problem) });
});

function bytesOver(max: number, what: string) {
  return (value: string, ctx: z.RefinementCtx) => {
    const bytes = L.utf8Bytes(value);
    if (bytes > max) ctx.addIssue({ code: 'custom', message: `${what} ${L.sizeOverLimit(bytes, max)}` });
  };
}

/** No NUL: the kernel ends strings there, so what ran would differ from what was recorded. */
const noNul = (value: string, ctx: z.RefinementCtx) => {
  if (value.includes('\0')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
};

/** One argv string (an entry of command or args). */
export const argSchema = z.string().superRefine(noNul).superRefine(bytesOver(L.MAX_ARG_BYTES, 'the argument'));

/** An argv list (command or args). */
export const argvSchema = z.array(argSchema).max(L.MAX_ARGV_ENTRIES, `must have at most ${L.MAX_ARGV_ENTRIES} entries`);

/** `KEY=VALUE`, bounded. */
export const envEntrySchema = z.string().superRefine((entry, ctx) => {
  const eq = entry.indexOf('=');
  if (eq <= 0 || entry.includes('\0')) {
    ctx.addIssue({ code: 'custom', message: `entries must be KEY=VALUE (found ${quote(entry)})` });
    return;
  }
  const name = entry.slice(0, eq);
  if (L.utf8Bytes(name) > L.MAX_ENV_NAME_BYTES) ctx.addIssue({ code: 'custom', message: `the name ${quote(name)} is longer than ${L.MAX_ENV_NAME_BYTES} bytes` });
  const bytes = L.utf8Bytes(entry) - L.utf8Bytes(name) - 1;
  if (bytes > L.MAX_ENV_VALUE_BYTES) {
    ctx.addIssue({ code: 'custom', message: `the value of ${quote(name)} ${L.sizeOverLimit(bytes, L.MAX_ENV_VALUE_BYTES)}; put large data in a file or a volume` });
  }
});
export const envSchema = z.array(envEntrySchema).max(L.MAX_ENV_ENTRIES, `must have at most ${L.MAX_ENV_ENTRIES} entries`);

/** An absolute path (mount source or target, working directory). */
export const absolutePathSchema = z
  .string()
  .startsWith('/', 'must be an absolute path')
  .superRefine(noNul)
  .superRefine(bytesOver(L.MAX_PATH_BYTES, 'the path'));

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why a label key is not a Kubernetes-style qualified name (`[prefix/]name`), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > L.MAX_LABEL_PREFIX_LENGTH || !DNS_SUBDOMAIN.test(prefix))) {
    return `the prefix of label key ${quote(key)} must be a DNS subdomain of at most ${L.MAX_LABEL_PREFIX_LENGTH} characters, e.g. example.com/`;
  }
  if (name.length === 0 || name.length > L.MAX_LABEL_NAME_LENGTH || !LABEL_NAME.test(name)) {
    return `label key ${quote(key)} must be [prefix/]name with a name of at most ${L.MAX_LABEL_NAME_LENGTH} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why a label value is not valid, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > L.MAX_LABEL_VALUE_LENGTH || !LABEL_NAME.test(value)) {
    return `label value ${quote(value)} must be at most ${L.MAX_LABEL_VALUE_LENGTH} letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Labels of any resource. */
export const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  const entries = Object.entries(labels);
  if (entries.length > L.MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${L.MAX_LABELS} labels are allowed (found ${entries.length})` });
  for (const [key, value] of entries) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) {
      ctx.addIssue({ code: 'custom', path: [key], message: problem });
      return;
    }
  }
});

/** cgroup limits as the log records them (manifest.ts spells them as the original Kukeon does). */
export const memoryBytesSchema = z.number().int().positive();
export const cpuSharesSchema = z.number().int().min(2).max(262144);
export const cpuQuotaSchema = z.number().int().min(L.MIN_CPU_QUOTA_US, `must be at least ${L.MIN_CPU_QUOTA_US} (1 ms)`);
export const cpuPeriodSchema = z
  .number()
  .int()
  .min(L.MIN_CPU_PERIOD_US, `must be at least ${L.MIN_CPU_PERIOD_US} (1 ms)`)
  .max(L.MAX_CPU_PERIOD_US, `must be at most ${L.MAX_CPU_PERIOD_US} (1 s)`);
export const pidsSchema = z.number().int().positive();
export const restartBackoffSchema = z
  .number()
  .int('must be a whole number of seconds')
  .min(0, 'must be 0 or more')
  .max(L.MAX_RESTART_BACKOFF_SECONDS, `must be at most ${L.MAX_RESTART_BACKOFF_SECONDS} (one day)`);
export const restartRetriesSchema = z.number().int('must be a whole number').min(1, 'must be at least 1');

/** The restart knobs only mean something with a policy that restarts. */
export function restartRules(
  c: { restartPolicy: string; restartBackoffSeconds?: number | undefined; restartMaxRetries?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  const policy = c.restartPolicy === '' ? 'never' : c.restartPolicy;
  if (c.restartBackoffSeconds !== undefined && policy === 'never') {
    ctx.addIssue({ code: 'custom', path: ['restartBackoffSeconds'], message: 'needs restartPolicy always or on-failure' });
  }
  if (c.restartMaxRetries !== undefined && policy !== 'on-failure') {
    ctx.addIssue({ code: 'custom', path: ['restartMaxRetries'], message: 'needs restartPolicy on-failure' });
  }
}

/** argv and environment together fit what execve takes. */
export function execSizeRule(c: { command: readonly string[] | string; args: readonly string[]; env: readonly string[] }, ctx: z.RefinementCtx): void {
  const command = typeof c.command === 'string' ? [c.command] : c.command;
  const strings = [...command, ...c.args, ...c.env];
  const bytes = strings.reduce((sum, s) => sum + L.utf8Bytes(s) + 1, 0);
  if (bytes > L.MAX_EXEC_BYTES) {
    ctx.addIssue({ code: 'custom', message: `command, args and env together ${L.sizeOverLimit(bytes, L.MAX_EXEC_BYTES)}` });
  }
  if (command.length + c.args.length > L.MAX_ARGV_ENTRIES) {
    ctx.addIssue({ code: 'custom', message: `command and args together have more than ${L.MAX_ARGV_ENTRIES} entries` });
  }
}

const mountSchema = strictObject({
  type: z.enum(['bind', 'tmpfs']),
  source: absolutePathSchema.optional(),
  target: absolutePathSchema,
  readOnly: z.boolean().optional(),
  options: z
    .array(z.string().superRefine(noNul).superRefine(bytesOver(L.MAX_MOUNT_OPTION_BYTES, 'the option')))
    .max(L.MAX_MOUNT_OPTIONS, `must have at most ${L.MAX_MOUNT_OPTIONS} entries`)
    .optional(),
});

/** A port number, 1–65535. */
export const portNumberSchema = z.number().int('must be a whole number').min(1, 'must be between 1 and 65535').max(65535, 'must be between 1 and 65535');
/** A host address to publish on: IPv4 (cell networks are IPv4). */
export const hostIPSchema = z.string().refine(isIPv4, 'must be an IPv4 address of the host, e.g. 127.0.0.1 (0.0.0.0: all of them)');
/** The ports of one container, as recorded (model/ports.ts). */
export const portsSchema = z
  .array(strictObject({ containerPort: portNumberSchema, hostPort: portNumberSchema.optional(), hostIP: hostIPSchema.optional(), protocol: z.enum(['tcp', 'udp']) }))
  .max(L.MAX_PORTS_PER_CONTAINER, `must have at most ${L.MAX_PORTS_PER_CONTAINER} entries`);

/** A secret's key, as Kubernetes allows them (events/secret.ts); it names a file. */
export const secretKeySchema = z.string().superRefine((value, ctx) => {
  if (!SecretKeySchema.safeParse(value).success) ctx.addIssue({ code: 'custom', message: `invalid secret key ${quote(value)}: use letters, digits, "-", "_" and "." (not "." or ".."), at most 253 characters` });
});
/** Environment variables from secrets' keys (Kubernetes' secretKeyRef), each name once. */
export const secretEnvSchema = z
  .array(
    strictObject({
      name: z.string().superRefine((value, ctx) => {
        if (!/^[^=\0]+$/.test(value) || L.utf8Bytes(value) > L.MAX_ENV_NAME_BYTES) ctx.addIssue({ code: 'custom', message: `invalid environment variable name ${quote(value)}` });
      }),
      secretKeyRef: strictObject({ name: nameSchema, key: secretKeySchema }),
    }),
  )
  .max(L.MAX_ENV_ENTRIES, `must have at most ${L.MAX_ENV_ENTRIES} entries`)
  .superRefine((entries, ctx) => {
    const names = entries.map((e) => e.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) ctx.addIssue({ code: 'custom', message: `environment variable ${quote(dup)} is set from a secret twice` });
  });
/** Secrets mounted as files under /run/secrets/<name>/, each once. */
export const secretMountsSchema = z
  .array(strictObject({ name: nameSchema }))
  .max(L.MAX_MOUNTS_PER_CONTAINER, `must have at most ${L.MAX_MOUNTS_PER_CONTAINER} entries`)
  .superRefine((entries, ctx) => {
    const names = entries.map((e) => e.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) ctx.addIssue({ code: 'custom', message: `secret ${quote(dup)} is mounted twice` });
  });

// ------------------------------------------------------------------------------------------------ security (issue 11)

/** How many sysctls one container may set (a bound on what the log records). */
export const MAX_SYSCTLS = 64;

/** A user: `uid[:gid]` or `name[:group]` (./security.ts). */
export const userSchema = z.string().superRefine((value, ctx) => {
  const problem = userProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** `default`, `unconfined` or an absolute path (./security.ts). */
export const seccompProfileSchema = z.string().superRefine(bytesOver(L.MAX_PATH_BYTES, 'the path')).superRefine((value, ctx) => {
  const problem = seccompProfileProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A capability name in any of Docker's spellings (`net_admin`, `CAP_NET_ADMIN`, `ALL`). */
export const capabilityNameSchema = z.string().superRefine((value, ctx) => {
  const problem = capabilityProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A capability name as recorded: normalised (`CAP_NET_ADMIN`, `ALL`). */
const recordedCapabilitySchema = capabilityNameSchema.superRefine((value, ctx) => {
  const normal = normalizeCapability(value);
  if (normal !== undefined && normal !== value) ctx.addIssue({ code: 'custom', message: `write capability ${quote(value)} as ${normal}` });
});

/** Sysctl keys and values (the namespaced rule needs the container's network: {@link sysctlRules}). */
export const sysctlsSchema = z
  .record(z.string(), z.string())
  .superRefine((sysctls, ctx) => {
    const entries = Object.entries(sysctls);
    if (entries.length > MAX_SYSCTLS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_SYSCTLS} sysctls are allowed (found ${entries.length})` });
    for (const [key, value] of entries) {
      const problem = sysctlValueProblem(key, value) ?? (L.utf8Bytes(value) > L.MAX_MOUNT_OPTION_BYTES ? `the value of sysctl ${quote(key)} is longer than ${L.MAX_MOUNT_OPTION_BYTES} bytes` : undefined);
      if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
    }
  });

/** Only namespaced sysctls, and no net.* one on the host's network (./security.ts). */
export function sysctlRules(c: { hostNetwork: boolean; sysctls?: Record<string, string> | undefined }, ctx: z.RefinementCtx): void {
  for (const key of Object.keys(c.sysctls ?? {})) {
    const problem = sysctlProblem(key, c.hostNetwork);
    if (problem) ctx.addIssue({ code: 'custom', path: ['sysctls', key], message: problem });
  }
}

const containerSchema = strictObject({
  name: nameSchema,
  image: imageSchema,
  command: argvSchema,
  args: argvSchema,
  env: envSchema,
  workingDir: absolutePathSchema.optional(),
  privileged: z.boolean(),
  hostNetwork: z.boolean(),
  hostPid: z.boolean(),
  mounts: z.array(mountSchema).max(L.MAX_MOUNTS_PER_CONTAINER, `must have at most ${L.MAX_MOUNTS_PER_CONTAINER} entries`),
  resources: strictObject({
    memoryBytes: memoryBytesSchema.optional(),
    cpuShares: cpuSharesSchema.optional(),
    cpuQuotaUs: cpuQuotaSchema.optional(),
    cpuPeriodUs: cpuPeriodSchema.optional(),
    pidsMax: pidsSchema.optional(),
  }),
  restartPolicy: z.enum(['never', 'always', 'on-failure']),
  restartBackoffSeconds: restartBackoffSchema.optional(),
  restartMaxRetries: restartRetriesSchema.optional(),
  ports: portsSchema.optional(),
  // secrets (issue 11): names of secrets and keys, never values.
  secretEnv: secretEnvSchema.optional(),
  secrets: secretMountsSchema.optional(),
  user: userSchema.optional(),
  capabilities: strictObject({ add: z.array(recordedCapabilitySchema).max(64), drop: z.array(recordedCapabilitySchema).max(64) }).optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  seccompProfile: seccompProfileSchema.optional(),
  noNewPrivileges: z.boolean().optional(),
  sysctls: sysctlsSchema.optional(),
})
  .superRefine(restartRules)
  .superRefine(execSizeRule)
  .superRefine(sysctlRules);

const cellTemplateSchema = strictObject({
  root: nameSchema,
  containers: z
    .array(containerSchema)
    .min(1, 'must list at least one container')
    .max(L.MAX_CONTAINERS_PER_CELL, `must have at most ${L.MAX_CONTAINERS_PER_CELL} containers`),
  labels: labelsSchema,
  ip: ipSchema.optional(),
  autoDelete: z.boolean().optional(),
});

/**
 * Why the containers of a cell do not fit together (distinct names, the root among them, host networking only
 * with a host-network root, an address only without one), or undefined. Shared with manifest.ts.
 */
export function cellRulesProblem(template: Pick<CellTemplate, 'root' | 'containers' | 'ip'>): string | undefined {
  const names = template.containers.map((c) => c.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) return `container id ${quote(dup)} appears twice`;
  const root = template.containers.find((c) => c.name === template.root);
  if (!root) return `the root container ${quote(template.root)} is not one of the cell's containers`;
  if (!root.hostNetwork && template.containers.some((c) => c.hostNetwork)) {
    return 'a container with hostNetwork needs a host-network root container (the root owns the cell network)';
  }
  if (root.hostNetwork && template.ip !== undefined) return `the root container ${quote(root.name)} uses the host's network, so the cell has no address of its own; remove ip`;
  // Every container of a cell shares the root's network: on the host's, a net.* sysctl would change the host.
  const netSysctl = root.hostNetwork ? template.containers.flatMap((c) => Object.keys(c.sysctls ?? {}).map((k) => sysctlProblem(k, true))).find((p) => p) : undefined;
  if (netSysctl) return netSysctl;
  return cellPortsProblem(template);
}

/**
 * Why `template` is not one kukeon will record, or undefined: its fields (as {@link validateCellTemplate} checks
 * them), how its containers fit together, and its total size.
 */
export function cellTemplateProblem(template: CellTemplate): string | undefined {
  const result = cellTemplateSchema.safeParse(template);
  if (!result.success) return formatIssues(result.error, template);
  const rules = cellRulesProblem(template);
  if (rules) return rules;
  const bytes = L.utf8Bytes(JSON.stringify(template));
  if (bytes > L.MAX_CELL_TEMPLATE_BYTES) {
    return `the cell's spec ${L.sizeOverLimit(bytes, L.MAX_CELL_TEMPLATE_BYTES)}; put large data in files or volumes`;
  }
  return undefined;
}

/**
 * Throws InvalidArgument (`cell "web": containers[0].image: invalid image reference …`) unless `template` is one
 * kukeon will record: called by Operations.createCell/applyCell before any event is appended, so `kuke create
 * cell`, the CreateCell RPC and `kuke apply` refuse the same templates.
 *
 * @example
 * validateCellTemplate(template, 'cell "web"');
 */
export function validateCellTemplate(template: CellTemplate, context: string): void {
  const problem = cellTemplateProblem(template);
  if (problem) throw new KukeError(ErrorKind.InvalidArgument, `${context}: ${problem}`, { hint: 'nothing was changed' });
}

/** Throws InvalidArgument unless `labels` are valid labels (realms, spaces and stacks have them too). */
export function validateLabels(labels: Record<string, string>, context: string): void {
  const result = labelsSchema.safeParse(labels);
  if (!result.success) {
    throw new KukeError(ErrorKind.InvalidArgument, `${context}: ${formatIssues(result.error, labels, ['labels'])}`, { hint: 'nothing was changed' });
  }
}
