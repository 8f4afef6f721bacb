/**
 * Output: data to stdout (tables, JSON, YAML), everything else to stderr. One printer for every command, so
 * `-o json` never has anything else on stdout.
 *
 * Tables follow the original's format: a header row, a row of dashes, columns separated by two spaces,
 * left-aligned, each as wide as its longest cell. Written by hand (a dozen lines) rather than with a table
 * library: the format is exact and `kuke get` startup time matters.
 */
import { stringify } from 'yaml';
import type { CellView, ContainerView, RealmView, ResourceView, SpaceView, StackView, UsageView } from '../model/resources.js';
import type { ResourceDocument } from '../model/documents.js';
import { cellPorts, formatPort } from '../model/ports.js';

/** Output formats of `-o`. */
export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'wide', 'json', 'yaml'];

/** Where output goes (replaceable in tests). */
export interface Streams {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Bytes to stdout as they are (`kuke logs`); a promise when the caller should wait before writing more. */
  bytes?: (chunk: Uint8Array) => void | Promise<void>;
}

export const processStreams: Streams = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  bytes: (chunk) => (process.stdout.write(chunk) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', resolve))),
};

/** Formats rows as the original's tables. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** Coarse age: `3d`, `5h`, `12m`, `40s`; `-` when unknown. */
export function age(createdAt: string, now = Date.now()): string {
  const t = Date.parse(createdAt);
  if (!createdAt || Number.isNaN(t)) return '-';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d`;
  if (s >= 3_600) return `${Math.floor(s / 3_600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}

/** `1.23s` of CPU time. */
export function cpuTime(nanos: number): string {
  const s = nanos / 1e9;
  if (s >= 3600) return `${(s / 3600).toFixed(1)}h`;
  if (s >= 60) return `${(s / 60).toFixed(1)}m`;
  return `${s.toFixed(2)}s`;
}

/** `12.3Mi` of memory. */
export function bytes(n: number): string {
  const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}B` : `${v.toFixed(1)}${units[u]}`;
}

const PLURAL: Record<ResourceView['kind'], string> = { Realm: 'realms', Space: 'spaces', Stack: 'stacks', Cell: 'cells', Container: 'containers' };

type Row = { header: string[]; wide: string[]; row: (v: never, usage?: UsageView) => string[]; wideRow: (v: never, usage?: UsageView) => string[] };

const usageCells = (u?: UsageView) => (u ? [cpuTime(u.cpuNanos), bytes(u.memoryBytes)] : ['-', '-']);

const COLUMNS: Record<ResourceView['kind'], Row> = {
  Realm: {
    header: ['NAME', 'STATE', 'AGE'],
    wide: ['NAMESPACE', 'CPU', 'MEMORY'],
    row: (r: RealmView) => [r.name, r.state, age(r.createdAt)],
    wideRow: (r: RealmView, u) => [r.namespace, ...usageCells(u)],
  },
  Space: {
    header: ['NAME', 'REALM', 'STATE', 'AGE'],
    wide: ['NETWORK', 'BRIDGE', 'SUBNET'],
    row: (s: SpaceView) => [s.name, s.realm, s.state, age(s.createdAt)],
    wideRow: (s: SpaceView) => [s.network.name, s.network.bridge, s.network.subnet],
  },
  Stack: {
    header: ['NAME', 'REALM', 'SPACE', 'STATE', 'AGE'],
    wide: [],
    row: (s: StackView) => [s.name, s.realm, s.space, s.state, age(s.createdAt)],
    wideRow: () => [],
  },
  Cell: {
    header: ['NAME', 'REALM', 'SPACE', 'STACK', 'STATE', 'AGE'],
    wide: ['CONTAINERS', 'RESTARTS', 'ADDRESS', 'PORTS', 'CPU', 'MEMORY'],
    row: (c: CellView) => [c.name, c.realm, c.space, c.stack, cellState(c), age(c.createdAt)],
    wideRow: (c: CellView, u) => [
      `${c.containers.filter((k) => k.state === 'Running').length}/${c.containers.length}`,
      String(c.containers.reduce((sum, k) => sum + k.restarts, 0)),
      c.address ?? '-',
      c.template ? cellPorts(c.template).map(formatPort).join(', ') || '-' : '-',
      ...usageCells(u),
    ],
  },
  Container: {
    header: ['NAME', 'REALM', 'SPACE', 'STACK', 'CELL', 'STATE', 'RESTARTS', 'AGE'],
    wide: ['IMAGE', 'PID', 'EXIT'],
    row: (c: ContainerView) => [c.name, c.realm, c.space, c.stack, c.cell, c.state, String(c.restarts), age(c.createdAt)],
    wideRow: (c: ContainerView) => [c.image, c.pid ? String(c.pid) : '-', `${c.exitCode === null ? '-' : c.exitSignal ? `${c.exitCode}/${c.exitSignal}` : String(c.exitCode)}${c.oomKilled ? ' (OOM)' : ''}`],
  },
};

/**
 * A cell's STATE cell: the state, and for a cell whose root exited by itself why it stopped, as Docker's STATUS says
 * it: `Exited (0)`, `Exited (137 SIGKILL, OOMKilled)` (issue 12).
 */
export function cellState(c: Pick<CellView, 'state' | 'containers'>): string {
  const root = c.containers.find((k) => k.root);
  if (c.state !== 'Exited' || !root) return c.state;
  const code = root.exitCode === null ? 'unknown code' : `${root.exitCode}${root.exitSignal ? ` ${root.exitSignal}` : ''}`;
  return `Exited (${code}${root.oomKilled ? ', OOMKilled' : ''})`;
}

/** Formats views as a table (or the empty-list message). `kind` names the list when it is empty. */
export function viewsTable(kind: ResourceView['kind'], views: ResourceView[], wide: boolean, usage?: Map<ResourceView, UsageView>): string {
  if (views.length === 0) return `No ${PLURAL[kind]} found.\n`;
  const cols = COLUMNS[kind];
  const header = wide ? [...cols.header, ...cols.wide] : cols.header;
  const rows = views.map((v) => {
    const u = usage?.get(v);
    const base = cols.row(v as never, u);
    return wide ? [...base, ...cols.wideRow(v as never, u)] : base;
  });
  return formatTable(header, rows);
}

/** JSON (2-space, newline-terminated). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** YAML; never with anchors and aliases (a value printed twice is written twice), which apply refuses. */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false });
}

/**
 * Resource documents (model/documents.ts) in the chosen structured format; false for table formats. YAML is a
 * multi-document stream (`---` between documents), which `kuke apply -f` reads back; JSON is one document, or an
 * array of them for a list.
 */
export function printDocuments(streams: Streams, format: OutputFormat, documents: ResourceDocument[], list: boolean): boolean {
  if (format === 'json') streams.out(toJson(list ? documents : documents[0]));
  else if (format === 'yaml') streams.out(documents.map(toYaml).join('---\n'));
  else return false;
  return true;
}

/** Prints data in the chosen structured format; returns false for table formats (the caller prints a table). */
export function printStructured(streams: Streams, format: OutputFormat, value: unknown): boolean {
  if (format === 'json') streams.out(toJson(value));
  else if (format === 'yaml') streams.out(toYaml(value));
  else return false;
  return true;
}

/**
 * What a start came to when the cell's root exited by itself (a one-shot): `cell "once" exited with code 0`, with the
 * signal's name for a death by signal. Undefined when the cell did not end Exited.
 */
export function exitLine(view: Pick<CellView, 'name' | 'state' | 'containers'>): string | undefined {
  if (view.state !== 'Exited') return undefined;
  const root = view.containers.find((c) => c.root);
  const code = root?.exitCode;
  const how = code === null || code === undefined ? 'with an unknown code' : `with code ${code}${root?.exitSignal ? ` (${root.exitSignal})` : ''}`;
  return `cell "${view.name}" exited ${how}`;
}
