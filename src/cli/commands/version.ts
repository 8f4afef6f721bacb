/**
 * `kuke version`: the client's version and, when kukeond answers, the daemon's. With the daemon down it prints the
 * client line, warns on stderr and succeeds; `--strict` fails when the two differ or the daemon is down.
 */
import type { Command } from 'commander';
import { ErrorKind, KukeError } from '../../errors.js';
import { VERSION } from '../../version.js';
import type { CommandContext } from '../context.js';

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description('print the versions of kuke and kukeond')
    .option('--strict', 'fail when the daemon is down or runs another version')
    .action(async (options: { strict?: boolean }) => {
      ctx.streams.out(`Client: v${VERSION}\n`);
      if (ctx.inProcess()) return;
      let daemon: string | undefined;
      try {
        daemon = (await (await ctx.client()).ping()).version;
      } catch (err) {
        ctx.streams.err(`warning: kukeond did not answer: ${(err as Error).message}\n`);
        if (options.strict) throw new KukeError(ErrorKind.Unavailable, 'kukeond is not reachable');
        return;
      }
      ctx.streams.out(`Daemon: v${daemon}\n`);
      if (daemon !== VERSION) {
        ctx.streams.err(`warning: kuke v${VERSION} and kukeond v${daemon} differ\n`);
        if (options.strict) throw new KukeError(ErrorKind.FailedPrecondition, `version skew: kuke v${VERSION}, kukeond v${daemon}`, { hint: 'upgrade with: sudo kuke daemon recreate --image <new image>' });
      }
    });
}
