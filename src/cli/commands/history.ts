/**
 * `kuke history <kind> <name>`: the resource's events, oldest first (a cell's include its containers', and the
 * daemon cell's include every start and stop of kukeond): SEQ, TIME, EVENT, FROM → TO, ACTOR, DETAIL.
 * `--since <seq|time>`, `--follow` (until Ctrl-C), `-o json|yaml`.
 *
 * `kuke history daemon`: kukeond's own stream: its starts and stops, repairs of the log, and every request it refused
 * (AccessDenied: who asked, what, and the role it needed).
 *
 * `kuke history verify`: checks the whole log's hash chain and contiguity, naming the first bad record.
 *
 * `kuke history repair` (root, in-process, kukeond stopped): cuts a damaged log back to its last good record, keeping
 * the damaged files aside and recording what was cut (LogRepaired on the daemon's stream, shown in the daemon cell's
 * history).
 */
import type { Command } from 'commander';
import type { Actor, EventRecord } from '../../../events/record.js';
import { ErrorKind, KukeError } from '../../errors.js';
import { validateName } from '../../model/names.js';
import { SYSTEM_CELL } from '../../model/names.js';
import { DAEMON_STREAM, type AggregateKey } from '../../model/streams.js';
import { parseFormat, type CommandContext } from '../context.js';
import { keyOf, parseKind, withScope, type ScopeOptions } from '../kinds.js';
import { isSecretKind, secretKey } from './secret.js';
import { formatTable, printStructured, toJson, toYaml } from '../output.js';
import { parseLogPoint } from '../values.js';

/** How the actor of an event reads in a table. */
export function actorText(actor: Actor): string {
  const ids = [actor.uid !== undefined && actor.uid >= 0 ? `uid=${actor.uid}` : '', actor.pid !== undefined && actor.pid > 0 ? `pid=${actor.pid}` : ''].filter(Boolean).join(' ');
  switch (actor.type) {
    case 'in-process':
      return `kuke (in-process)${ids ? ` ${ids}` : ''}`;
    case 'user':
      return `user${ids ? ` ${ids}` : ''}`;
    default:
      // The engine names the rule that acted (`engine (autoDelete)`, `engine (restart policy always)`).
      return actor.name ? `${actor.type} (${actor.name})` : actor.type;
  }
}

function grace(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** What matters about an event, in a few words. */
export function detailText(record: EventRecord): string {
  const d = record.data as Record<string, unknown>;
  const who = record.stream.startsWith('container/') ? `${record.stream.split('/').at(-1)}: ` : '';
  const text = (() => {
    switch (record.type) {
      case 'TaskExited':
        return `exit code ${String(d.code)}${d.signal ? ` (${String(d.signal)})` : ''}`;
      case 'TaskLost':
        return 'task gone, exit code unknown';
      case 'TaskOomKilled':
        return 'killed by the OOM killer (memory limit reached)';
      case 'TaskStarted':
        return `pid ${String(d.pid)}`;
      case 'EffectFailed': {
        const e = d.error as { kind: string; message: string };
        return `${String(d.effect)} failed: ${e.kind}: ${e.message}`;
      }
      case 'ReconcileFailed': {
        const e = d.error as { kind: string; message: string };
        return `reconcile (${String(d.step)}) failed: ${e.kind}: ${e.message}`;
      }
      case 'ForceDeleted': {
        const left = d.leftovers as { resource: string; error: { message: string } }[];
        return left.length === 0 ? 'forced; nothing left behind' : `forced; left behind: ${left.map((l) => `${l.resource} (${l.error.message})`).join('; ')}`;
      }
      case 'ExecStarted': {
        const flags = [d.stdin ? '-i' : '', d.tty ? '-t' : '', d.user !== undefined ? `-u ${String(d.user)}` : ''].filter(Boolean).join(' ');
        const argv = (d.command as string[]).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
        return `exec ${String(d.execId)}${flags ? ` ${flags}` : ''}: ${argv}${d.truncated ? ' …(cut)' : ''}`;
      }
      case 'ExecExited':
        return `exec ${String(d.execId)} ${d.code !== undefined ? `exited with code ${String(d.code)}` : 'could not be run'}${d.error ? ` (${String(d.error)})` : ''}`;
      case 'CreateContainer':
      case 'UpdateContainer':
        return `image ${(d.template as { image: string }).image}`;
      case 'StartContainer': {
        const n = d.network as { mode: string; path?: string };
        return n.mode === 'join' ? `network: join ${n.path}` : `network: ${n.mode}`;
      }
      case 'StopContainer':
        return `${String(d.signal)}, grace ${grace(Number(d.graceMs))}`;
      case 'CreateCell':
      case 'UpdateCell': {
        const t = d.template as { root: string; containers: { name: string; image: string }[] };
        return t.containers.map((c) => `${c.name}${c.name === t.root ? ' (root)' : ''}: ${c.image}`).join(', ');
      }
      case 'CellStarted':
        return `root pid ${String(d.rootPid)}${d.address ? `, ${String(d.address)}` : ''}`;
      case 'StopCell':
        return d.mode === 'kill' ? 'kill (SIGKILL)' : `stop (SIGTERM, grace ${grace(Number(d.graceMs))})`;
      case 'ContainerExited':
        return `${String(d.container)} exited with code ${d.code === null ? 'unknown' : String(d.code)}`;
      case 'CreateRealm':
        return `namespace ${String(d.namespace)}${d.system ? ' (system realm)' : ''}`;
      case 'CreateSpace': {
        const n = d.network as { name: string; bridge: string; subnet: string };
        return `network ${n.name}, bridge ${n.bridge}, subnet ${n.subnet}`;
      }
      case 'DeleteRealm':
      case 'DeleteSpace':
      case 'DeleteStack':
        return d.force ? 'forced' : '';
      case 'DeleteCell':
        return d.keepLogs ? 'logs kept' : 'logs removed';
      // A secret's events hold its keys and digest, never a value.
      case 'CreateSecret':
      case 'UpdateSecret':
        return `keys ${(d.keys as string[]).join(', ')}; digest ${String(d.digest).slice(0, 24)}…`;
      case 'DeleteSecret':
        return d.force ? `forced (used by ${(d.users as string[]).join(', ') || 'no cell'})` : '';
      case 'DaemonStarted':
        return `pid ${String(d.pid)}, v${String(d.version)}, replayed ${String(d.replayed)} events, ready in ${Math.round(Number(d.readyMs))} ms${d.uncleanShutdown ? ', after an unclean shutdown' : ''}`;
      case 'DaemonStopped':
        return `pid ${String(d.pid)}, ${String(d.reason)}`;
      case 'AccessDenied':
        return `denied ${String(d.method)}${d.target ? ` ${String(d.target)}` : ''}: ${String(d.what)} (role ${String(d.role)}, needs ${String(d.needed)})${d.suppressed ? `; ${String(d.suppressed)} more not recorded` : ''}`;
      case 'LogRepaired': {
        const cut = d.cut as { from: number; to: number } | undefined;
        return `${cut ? `records ${cut.from}…${cut.to} cut` : 'nothing cut'}, kept 1…${String(d.keptUpTo)} (${String(d.problem)}); damaged files in ${String(d.backup)}`;
      }
      default:
        return '';
    }
  })();
  return `${who}${text}`.replace(/: $/, '');
}

function rows(records: EventRecord[]): string[][] {
  return records.map((r) => [String(r.seq), r.at, r.type, `${r.from ?? ''} → ${r.to ?? ''}`, actorText(r.actor), detailText(r)]);
}

const HEADER = ['SEQ', 'TIME', 'EVENT', 'FROM → TO', 'ACTOR', 'DETAIL'];

export function register(program: Command, ctx: CommandContext): void {
  const command = program
    .command('history')
    .description("show a resource's events, oldest first; `kuke history verify` checks the log, `kuke history repair` cuts a damaged one back to its last good record")
    .argument('<kind>', 'realm, space, stack, cell, container or secret; daemon (its starts, stops and refused requests); or verify, repair')
    .argument('[name]', 'resource name')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .option('--since <seq|time>', 'only events from this seq or time on')
    .option('-f, --follow', 'keep printing new events until Ctrl-C');
  withScope(command, { cell: true }).action(async (word: string, name: string | undefined, options: ScopeOptions & { output?: string; since?: string; follow?: boolean }) => {
    const format = parseFormat(options.output, ['table', 'json', 'yaml']);
    if (word === 'verify') {
      const client = await ctx.client();
      const report = await client.verifyLog();
      if (!printStructured(ctx.streams, format, report)) {
        if (report.ok) ctx.streams.out(`event log OK: ${report.records} records, head ${report.headSeq} (${report.headHash.slice(0, 12)})\n`);
      }
      if (!report.ok) {
        throw new KukeError(ErrorKind.DataLoss, `event log damaged at record ${report.firstBad!.seq} (${report.firstBad!.problem}): ${report.firstBad!.message}`, {
          hint: `keep every record before it with: sudo kuke daemon stop, then sudo kuke history repair --run-path ${ctx.settings().engine.runPath} (the damaged files are kept aside); or restore the run path from a backup`,
        });
      }
      return;
    }
    if (word === 'repair') {
      const report = await repair(ctx);
      if (printStructured(ctx.streams, format, report)) return;
      if (report.intact) ctx.streams.out(`event log OK: ${report.keptUpTo} records; nothing to repair\n`);
      else {
        const cut = report.cut ? `cut records ${report.cut.from}…${report.cut.to}` : 'cut nothing';
        ctx.streams.out(`event log repaired: kept records 1…${report.keptUpTo}, ${cut} (${report.problem}); the damaged files are in ${report.backup}\n`);
      }
      return;
    }
    const key = word === 'daemon' ? daemonKey(name) : resourceKey(word, name, options);
    const since = options.since === undefined ? {} : parseLogPoint('--since', options.since);
    const filter = { ...(since.atSeq !== undefined ? { sinceSeq: since.atSeq } : {}), ...(since.atTime ? { sinceTime: since.atTime } : {}) };
    const client = await ctx.client();
    if (!options.follow) {
      const records = await client.history(key, filter);
      if (printStructured(ctx.streams, format, records)) return;
      ctx.streams.out(records.length === 0 ? 'No events found.\n' : formatTable(HEADER, rows(records)));
      return;
    }
    // Only kukeond appends while others read; in-process, the log is read once.
    if (ctx.inProcess()) ctx.streams.err('kuke: --follow in-process prints what the log holds and ends; to follow new events, ask kukeond (without --no-daemon/--run-path)\n');
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await client.watchHistory(key, filter, (record) => {
        if (format === 'json') ctx.streams.out(toJson(record).replace(/\n(?!$)\s*/g, ' '));
        else if (format === 'yaml') ctx.streams.out(`---\n${toYaml(record)}`);
        else ctx.streams.out(`${rows([record])[0]!.join('  ')}\n`);
      }, abort.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

/** The daemon's own stream (`kuke history daemon [kukeond]`). */
function daemonKey(name: string | undefined): AggregateKey {
  if (name !== undefined && name !== SYSTEM_CELL) throw new KukeError(ErrorKind.InvalidArgument, `unknown daemon "${name}"`, { hint: 'the daemon is kukeond: kuke history daemon' });
  return { kind: 'daemon', name: SYSTEM_CELL };
}

/** The key of a resource named on the command line. */
function resourceKey(word: string, name: string | undefined, options: ScopeOptions): AggregateKey {
  if (isSecretKind(word)) {
    if (!name) throw new KukeError(ErrorKind.InvalidArgument, 'history of a secret needs its name', { hint: 'e.g. kuke history secret <name>' });
    return secretKey(name, options);
  }
  const kind = parseKind(word);
  if (!name) throw new KukeError(ErrorKind.InvalidArgument, `history of a ${kind} needs its name`, { hint: `e.g. kuke history ${kind} <name>` });
  validateName(kind === 'container' ? 'container' : kind, name.replace(/_root$/, ''));
  return keyOf(kind, options, name);
}

/** `kuke history repair`: in-process on the run path's log, as root, with the daemon stopped (the log's lock says). */
async function repair(ctx: CommandContext) {
  const [{ requireRoot }, { repairLog }, { catalogCodec }, { runLayout }] = await Promise.all([
    import('../../api/bootstrap.js'),
    import('../../store/event-log.js'),
    import('../../engine/codec.js'),
    import('../../engine/config.js'),
  ]);
  requireRoot('kuke history repair');
  const dir = runLayout(ctx.settings().engine.runPath).eventLog;
  const actor = { type: 'in-process' as const, uid: process.getuid?.() ?? -1, pid: process.pid, name: 'kuke history repair' };
  return repairLog(dir, {
    codec: catalogCodec,
    logger: ctx.logger(),
    repairEvent: (data) => ({ stream: DAEMON_STREAM, type: 'LogRepaired', v: 1, data, at: new Date().toISOString(), actor }),
  });
}
