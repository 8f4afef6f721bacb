/**
 * `kuke start|stop|kill|restart cell <name>`: a cell's lifecycle verbs. Each returns when the cell has settled.
 */
import type { Command } from 'commander';
import { validateName } from '../../model/names.js';
import type { CommandContext } from '../context.js';
import { parseDuration } from '../values.js';
import { parseKind, withScope, type ScopeOptions } from '../kinds.js';
import { exitLine } from '../output.js';

type Verb = 'start' | 'stop' | 'kill' | 'restart';

const PAST: Record<Verb, string> = { start: 'Started', stop: 'Stopped', kill: 'Killed', restart: 'Restarted' };
const ALIASES: Record<Verb, string> = { start: 'sta', stop: 'sto', kill: 'k', restart: 'res' };

export function register(program: Command, ctx: CommandContext): void {
  for (const verb of ['start', 'stop', 'kill', 'restart'] as const) {
    const command = program
      .command(verb)
      .alias(ALIASES[verb])
      .description(`${verb} a cell`)
      .argument('<kind>', 'cell')
      .argument('<name>', 'cell name');
    if (verb === 'stop' || verb === 'restart') command.option('--timeout <duration>', 'grace period before SIGKILL (e.g. 10s)');
    withScope(command).action(async (word: string, name: string, options: ScopeOptions & { timeout?: string }) => {
      parseKind(word, ['cell']);
      validateName('cell', name);
      const ref = { realm: options.realm!, space: options.space!, stack: options.stack!, cell: name };
      const graceMs = options.timeout === undefined ? undefined : parseDuration('--timeout', options.timeout);
      const client = await ctx.client();
      let note = '';
      let exited: string | undefined;
      if (verb === 'start') exited = exitLine(await client.startCell(ref));
      else if (verb === 'restart') exited = exitLine(await client.restartCell(ref, graceMs === undefined ? {} : { graceMs }));
      else {
        const view = await client.stopCell(ref, { mode: verb, ...(graceMs === undefined ? {} : { graceMs }) });
        if (view.changed === false) note = ` (it was already ${view.state})`;
      }
      ctx.streams.out(`${PAST[verb]} cell "${name}" from stack "${ref.stack}"${note}\n`);
      // A root that ran to its end (a one-shot) has started all the same: its exit is told.
      if (exited) ctx.streams.out(`${exited}\n`);
    });
  }
}
