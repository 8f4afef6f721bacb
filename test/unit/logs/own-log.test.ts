/**
 * kukeond's own log rotated by the containers' policy (max-size, max-file with the live file counted), through a real
 * pino file destination as the daemon writes it: renamed and reopened, so no line is lost.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { rotateOwnLog } from '../../../src/runtime/logs/own-log.js';

const root = mkdtempSync(join(tmpdir(), 'kukeon-own-log-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A directory with a pino destination writing `kukeond.log`, as serve.ts opens it. */
function daemonLog(name: string) {
  const dir = join(root, name);
  const live = join(dir, 'kukeond.log');
  const file = pino.destination({ dest: live, sync: true, mkdir: true });
  const logger = pino({ base: null, timestamp: false }, file);
  return { dir, live, file, logger, files: () => readdirSync(dir).sort() };
}

describe("kukeond's own log", () => {
  it('is renamed to .1 and reopened once it reaches max-size, keeping every line, and at most max-file files', async () => {
    const { live, file, logger, files } = daemonLog('rotates');
    const policy = { maxBytes: 1000, maxFiles: 3 };
    let n = 0;
    const written: string[] = [];
    const burst = () => {
      for (let i = 0; i < 50; i++) {
        const msg = `line ${n++}`;
        written.push(msg);
        logger.info(msg);
      }
    };
    for (let round = 0; round < 4; round++) {
      burst();
      const report = await rotateOwnLog(live, policy, () => file.reopen());
      expect(report.rotated).toEqual([live]);
      expect(statSync(live).size).toBe(0);
    }
    burst();
    expect(files()).toEqual(['kukeond.log', 'kukeond.log.1', 'kukeond.log.2']);
    // Oldest first: .2, .1, then the live file; the first two rounds' copies were removed.
    const kept = ['kukeond.log.2', 'kukeond.log.1', 'kukeond.log'].flatMap((f) => readFileSync(join(live, '..', f), 'utf8').trim().split('\n'));
    expect(kept.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(written.slice(100));
  });

  it('is left alone under max-size, and copies beyond max-file are removed anyway', async () => {
    const { dir, live, file, logger, files } = daemonLog('small');
    logger.info('hello');
    for (const i of [1, 2, 3, 7]) writeFileSync(join(dir, `kukeond.log.${i}`), 'old\n');
    const report = await rotateOwnLog(live, { maxBytes: 1 << 20, maxFiles: 2 }, () => file.reopen());
    expect(report.rotated).toEqual([]);
    expect(report.removed.sort()).toEqual([join(dir, 'kukeond.log.2'), join(dir, 'kukeond.log.3'), join(dir, 'kukeond.log.7')]);
    expect(files()).toEqual(['kukeond.log', 'kukeond.log.1']);
    expect(readFileSync(live, 'utf8')).toContain('hello');
  });

  it('is truncated with max-file 1, and the next line starts the file again', async () => {
    const { live, file, logger, files } = daemonLog('one');
    for (let i = 0; i < 50; i++) logger.info(`line ${i}`);
    await rotateOwnLog(live, { maxBytes: 100, maxFiles: 1 }, () => file.reopen());
    logger.info('after');
    expect(files()).toEqual(['kukeond.log']);
    expect(readFileSync(live, 'utf8')).toBe('{"level":30,"msg":"after"}\n');
  });

  it('has nothing to do before the file exists', async () => {
    const missing = join(root, 'none', 'kukeond.log');
    rmSync(join(root, 'none'), { recursive: true, force: true });
    await expect(rotateOwnLog(missing, { maxBytes: 1, maxFiles: 2 }, () => undefined)).resolves.toEqual({ rotated: [], removed: [] });
    expect(existsSync(missing)).toBe(false);
  });
});
