/**
 * A child process for the kill -9 tests: opens (or creates) the log at argv[2] and appends forever from 16
 * concurrent writers, printing each acknowledged seq on stdout as soon as its append resolves.
 */
import { existsSync } from 'node:fs';
import { LevelEventLog } from '../../src/store/event-log.js';
import { event, permissiveCodec } from './store.js';

const path = process.argv[2]!;
const log = existsSync(path) ? await LevelEventLog.open(path, { codec: permissiveCodec }) : await LevelEventLog.create(path, { codec: permissiveCodec });
process.stdout.write('ready\n');
let n = 0;
async function writer(id: number): Promise<never> {
  for (;;) {
    const stream = `s/${id}`;
    const [record] = await log.append(stream, [event(stream, n++)]);
    process.stdout.write(`${record!.seq}\n`);
  }
}
await Promise.all(Array.from({ length: 16 }, (_, i) => writer(i)));
