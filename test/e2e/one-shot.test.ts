/**
 * One-shot roots through `kuke` and kukeond (issue 10, network before the process): a root that runs to its end ends
 * its cell Exited with its code, in `kuke get` and `kuke history`, never Failed, and `kuke create --start` says so and
 * succeeds. Before, the network was attached after the process started, and a root that exited first failed its cell
 * with a random CNI error labelled a bug in kukeon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startE2eHost, type E2eHost } from '../support/e2e.js';
import { statusOf, statusesOf } from '../support/documents.js';

let host: E2eHost;

interface CellJson {
  state: string;
  containers: { name: string; state: string; exitCode: number | null }[];
}
interface EventJson {
  type: string;
  data: Record<string, unknown>;
}

const create = (name: string, ...args: string[]) => host.kuke(['create', 'cell', name, '--image', host.testImage.ref, ...args.flatMap((a) => ['--arg', a]), '--start']);
const getCell = async (name: string) => statusOf<CellJson>((await host.kuke(['get', 'cell', name, '-o', 'json'])).stdout);
const history = async (name: string) => JSON.parse((await host.kuke(['history', 'cell', name, '-o', 'json'])).stdout) as EventJson[];

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.252.0.0/18', tag: 'n' });
  const init = await host.local(['init']);
  if (init.code !== 0) throw new Error(init.stderr);
  const load = await host.kuke(['image', 'load', host.testImage.path]);
  if (load.code !== 0) throw new Error(load.stderr);
}, 180_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('one-shot roots', () => {
  it('reports `--arg true` as exited with code 0 and succeeds; the cell is Exited(0) in get and history', async () => {
    const r = await create('once', 'true');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Cell "once" (realm "default", space "default", stack "default"): created (Exited)\ncell "once" exited with code 0\n');
    expect(await getCell('once')).toMatchObject({ state: 'Exited', containers: [{ name: 'once_root', state: 'Exited', exitCode: 0 }] });
    const events = await history('once');
    expect(events.map((e) => e.type)).not.toContain('EffectFailed');
    expect(events.find((e) => e.type === 'ContainerExited')?.data).toMatchObject({ root: true, code: 0 });
  });

  it("reports `sh -c 'exit 3'` as Exited(3) in get and history, and starts it again the same way", async () => {
    const r = await create('three', 'sh', '-c', 'exit 3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cell "three" exited with code 3\n');
    expect(await getCell('three')).toMatchObject({ state: 'Exited', containers: [{ state: 'Exited', exitCode: 3 }] });
    expect((await history('three')).find((e) => e.type === 'ContainerExited')?.data).toMatchObject({ root: true, code: 3 });
    const again = await host.kuke(['start', 'cell', 'three']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('Started cell "three" from stack "default"\ncell "three" exited with code 3\n');
  });

  it('runs 20 one-shot cells in a row, none Failed, each Exited(0)', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await create(`job-${i}`, 'true');
      expect(r.code, `job-${i}: ${r.stderr}`).toBe(0);
      expect(r.stderr, `job-${i}`).toBe('');
    }
    const cells = statusesOf<CellJson & { name: string }>((await host.kuke(['get', 'cells', '-o', 'json'])).stdout);
    const jobs = cells.filter((c) => c.name.startsWith('job-'));
    expect(jobs).toHaveLength(20);
    expect(jobs.map((c) => [c.name, c.state, c.containers[0]?.exitCode]).filter(([, state, code]) => state !== 'Exited' || code !== 0)).toEqual([]);
  });
});
