/**
 * `autoDelete: true` (issue 12; `kuke create cell --rm`, `kuke run --rm`): once a cell's root exits by itself and the
 * cell has wound down to Exited, the engine deletes it as `kuke delete cell` does (containers, network, cgroups and
 * logs). It is the engine's doing, so it happens with no client connected; the DeleteCell in history has the engine
 * as its actor, named `autoDelete`, and the exit's record as its cause. Unlike Docker, which also removes an `--rm`
 * container that `docker stop` stopped, a cell stopped by an operator (Stopped) is kept: `kuke restart cell` is a stop
 * then a start, and must not lose the cell in between. `kuke delete cell` removes a stopped one.
 */
import type { CellContext } from '../../machines/cell.js';
import type { Aggregate, DispatchMeta, Engine, FollowUp } from './engine.js';

const ACTOR = { type: 'engine', name: 'autoDelete' } as const;

/** Deletes an autoDelete cell as it reaches Exited. */
export const deleteWhenExited: FollowUp = (record, before, after, engine) => {
  if (after.kind !== 'cell' || String(after.snapshot.value) !== 'Exited' || String(before?.snapshot.value) === 'Exited') return;
  deleteIfOwed(engine, after, { actor: ACTOR, cause: `seq:${record.seq}` });
};

/**
 * After replay and reconcile: deletes the autoDelete cells that sit Exited (their root exited while the daemon was
 * down and reconcile wound them down before the follow-up could see it, or a crash came between the exit and the
 * delete).
 */
export function deleteExitedAutoDeleteCells(engine: Engine): void {
  for (const agg of engine.list('cell/')) {
    if (String(agg.snapshot.value) === 'Exited') deleteIfOwed(engine, agg, { actor: ACTOR, cause: 'resume' });
  }
}

function deleteIfOwed(engine: Engine, cell: Aggregate, meta: DispatchMeta): void {
  if ((cell.snapshot.context as CellContext).template?.autoDelete !== true) return;
  void engine
    .dispatch(cell.stream, 'DeleteCell', { keepLogs: false }, meta)
    .then((outcome) => {
      if (!outcome.accepted) engine.logger.debug({ stream: cell.stream, reason: outcome.rejection.message }, 'autoDelete: not deleted');
    })
    .catch((err) => {
      if (!engine.isClosed) engine.logger.error({ err, stream: cell.stream }, 'autoDelete could not delete the cell');
    });
}
