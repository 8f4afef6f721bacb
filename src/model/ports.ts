/**
 * Published ports: Docker's `-p` grammar, the Docker spelling `kuke get -o wide` prints, the rules within one cell,
 * and when two bindings of a host port collide. A cell's containers share the root's network namespace, so the host
 * ports a cell publishes are the union of its containers' (what the CNI portmap plugin is given).
 *
 * Decisions (where Docker, Podman and Kubernetes differ):
 * - A port without `hostPort` is documentation only, as Kubernetes' `containerPort`: shown (`80/tcp`, like an
 *   exposed port in `docker ps`), not published. `-p 80` (Docker: a random host port) is refused: name the host port.
 * - `hostIP` is IPv4 (cell networks are IPv4); `0.0.0.0` means every address and is stored as no hostIP.
 * - A host port is held by its cell for as long as the cell exists, running or not (as its address is), so a
 *   second cell asking for it is refused at create rather than failing at some later start.
 *
 * @example
 * parsePublish('127.0.0.1:8080:80/udp'); // { containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1', protocol: 'udp' }
 * formatPort({ containerPort: 80, hostPort: 8080, protocol: 'tcp' }); // '0.0.0.0:8080->80/tcp'
 */
import { Ipv4Schema, type CellTemplate, type Port } from '../../events/specs.js';
import { ErrorKind, KukeError } from '../errors.js';
import type { PortMapping } from '../runtime/ports.js';

const PORT = /^[0-9]{1,5}$/;

/** Why `value` is not a port number (1–65535), or undefined. */
function portNumberProblem(value: string): string | undefined {
  if (!PORT.test(value)) return 'is not a port number';
  const n = Number(value);
  return n >= 1 && n <= 65535 ? undefined : 'is not between 1 and 65535';
}

/** Whether `value` is a dotted-quad IPv4 address. */
export function isIPv4(value: string): boolean {
  return Ipv4Schema.safeParse(value).success;
}

/**
 * Parses one `-p`/`--publish` value, Docker's `[hostIP:]hostPort:containerPort[/tcp|udp]`. Throws InvalidArgument
 * naming the value and the right form.
 */
export function parsePublish(value: string): Port {
  const bad = (why: string, hint = 'use -p [hostIP:]hostPort:containerPort[/tcp|udp], e.g. -p 127.0.0.1:8080:80'): never => {
    throw new KukeError(ErrorKind.InvalidArgument, `invalid -p ${JSON.stringify(value)}: ${why}`, { hint });
  };
  const slash = value.lastIndexOf('/');
  const spec = slash === -1 ? value : value.slice(0, slash);
  const protocol = slash === -1 ? 'tcp' : value.slice(slash + 1).toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp') bad(`protocol ${JSON.stringify(value.slice(slash + 1))} is not tcp or udp`);
  if (spec.startsWith('[') || spec.split(':').length > 3) bad('IPv6 host addresses are not supported (cell networks are IPv4)');
  const parts = spec.split(':');
  if (parts.some((p) => p.includes('-'))) bad('port ranges are not supported; give one -p per port');
  if (parts.length === 1) bad('it names no host port; publishing needs one', 'use -p hostPort:containerPort, e.g. -p 8080:80 (a port without a host port can be declared in a manifest)');
  const [hostIP, hostPort, containerPort] = parts.length === 3 ? (parts as [string, string, string]) : ['', parts[0]!, parts[1]!];
  if (parts.length === 3 && !isIPv4(hostIP)) bad(`host address ${JSON.stringify(hostIP)} is not an IPv4 address`);
  if (hostPort === '') bad('it names no host port (Docker would pick a random one; kukeon needs it named)');
  const hostProblem = portNumberProblem(hostPort);
  if (hostProblem) bad(`host port ${JSON.stringify(hostPort)} ${hostProblem}`);
  const containerProblem = portNumberProblem(containerPort);
  if (containerProblem) bad(`container port ${JSON.stringify(containerPort)} ${containerProblem}`);
  return normalizePort({ containerPort: Number(containerPort), hostPort: Number(hostPort), hostIP, protocol: protocol as Port['protocol'] });
}

/** A port as it is recorded: `0.0.0.0` and an empty host address mean every address, stored as none. */
export function normalizePort(p: { containerPort: number; hostPort?: number | undefined; hostIP?: string | undefined; protocol: Port['protocol'] }): Port {
  const hostIP = p.hostIP && p.hostIP !== '0.0.0.0' ? p.hostIP : undefined;
  return { containerPort: p.containerPort, ...(p.hostPort !== undefined ? { hostPort: p.hostPort } : {}), ...(hostIP ? { hostIP } : {}), protocol: p.protocol };
}

/** Docker's spelling: `0.0.0.0:8080->80/tcp`, `127.0.0.1:8080->80/tcp`, or `80/tcp` for a port only declared. */
export function formatPort(p: Port): string {
  return p.hostPort === undefined ? `${p.containerPort}/${p.protocol}` : `${p.hostIP ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

/** Every port of a cell's containers, in container order. */
export function cellPorts(template: Pick<CellTemplate, 'containers'>): Port[] {
  return template.containers.flatMap((c) => c.ports ?? []);
}

/** The host ports a cell publishes, as portmap takes them (the union of its containers' published ports). */
export function portMappingsOf(template: Pick<CellTemplate, 'containers'>): PortMapping[] {
  return cellPorts(template)
    .filter((p): p is Port & { hostPort: number } => p.hostPort !== undefined)
    .map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIP ? { hostIP: p.hostIP } : {}) }));
}

/** A host port binding: protocol, port, and address (undefined = every address). */
export interface HostBinding {
  protocol: 'tcp' | 'udp';
  port: number;
  address?: string | undefined;
}

/** Whether two bindings would take the same packets: same protocol and port, and the same address or a wildcard. */
export function bindingsOverlap(a: HostBinding, b: HostBinding): boolean {
  return a.protocol === b.protocol && a.port === b.port && (a.address === undefined || b.address === undefined || a.address === b.address);
}

/** `127.0.0.1:8080/tcp`, `*:8080/udp`: a binding as the conflict messages name it. */
export function formatBinding(b: HostBinding): string {
  return `${b.address ?? '*'}:${b.port}/${b.protocol}`;
}

/** The binding a published mapping makes on the host. */
export function bindingOf(m: PortMapping): HostBinding {
  return { protocol: m.protocol, port: m.hostPort, address: m.hostIP };
}

/**
 * Why the ports of a cell do not fit together, or undefined: a host port published twice, or published by a
 * container that is on the host's network (it binds host ports itself; there is nothing to forward).
 */
export function cellPortsProblem(template: Pick<CellTemplate, 'root' | 'containers'>): string | undefined {
  const rootHost = template.containers.find((c) => c.name === template.root)?.hostNetwork === true;
  for (const c of template.containers) {
    const published = (c.ports ?? []).find((p) => p.hostPort !== undefined);
    if (published && (rootHost || c.hostNetwork)) {
      return `container "${c.name}" publishes ${formatPort(published)} but the cell is on the host's network, where its processes bind host ports themselves; remove hostPort`;
    }
  }
  const seen: PortMapping[] = [];
  for (const m of portMappingsOf(template)) {
    const clash = seen.find((s) => bindingsOverlap(bindingOf(s), bindingOf(m)));
    if (clash) return `host port ${formatBinding(bindingOf(m))} is published twice (${formatPort({ ...clash })} and ${formatPort({ ...m })})`;
    seen.push(m);
  }
  return undefined;
}
