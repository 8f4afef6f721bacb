/**
 * What a cell asks of its network attachment beyond an address from its space's pool: a fixed address (its static
 * `ip`, or the one it had before) and published ports. The start saga passes it to the root container's start, which
 * attaches the cell's network namespace between the task's create and its start (sagas.ts, effects.ts).
 */
import type { CellTarget } from '../../machines/cell.js';
import { portMappingsOf } from '../model/ports.js';
import type { AttachOptions } from '../runtime/ports.js';
import type { Engine } from './engine.js';

/**
 * The attach options of a cell about to start (empty: any free address, no published ports). Its published ports are
 * the union of its containers' (they all live in the root's network namespace).
 */
export async function attachOptionsOf(_engine: Engine, cell: CellTarget): Promise<AttachOptions> {
  const portMappings = portMappingsOf(cell.template);
  return { ...(portMappings.length ? { portMappings } : {}) };
}
