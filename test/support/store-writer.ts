/**
 * A child process for the kill -9 tests: opens (or creates) the log at argv[2] and appends from 16 concurrent
 * writers, printing each acknowledged seq on stdout as soon as its append resolves. It appends forever, or, with
 * a count in argv[3], stops starting appends once that many were acknowledged, waits for those in flight, prints
 * `idle` and waits to be killed (every batch in its WAL then acknowledged).
 */
import { existsSync } from 'node:fs';
import { LevelEventLog } from '../../src/store/event-log.js';
import { event, permissiveCodec } from './store.js';

const path = process.argv[2]!;
const stopAfter = process.argv[3] === undefined ? Infinity : Number(process.argv[3]);
const log = existsSync(path) ? await LevelEventLog.open(path, { codec: permissiveCodec }) : await LevelEventLog.create(path, { codec: permissiveCodec });
process.stdout.write('ready\n');
let n = 0;
let acked = 0;
async function writer(id: number): Promise<void> {
  while (acked < stopAfter) {
    const stream = `s/${id}`;
    const [record] = await log.append(stream, [event(stream, n++)]);
    acked++;
    process.stdout.write(`${record!.seq}\n`);
  }
}
await Promise.all(Array.from({ length: 16 }, (_, i) => writer(i)));
process.stdout.write('idle\n');
setInterval(() => undefined, 60_000);
