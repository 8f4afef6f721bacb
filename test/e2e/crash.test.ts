/**
 * Crash injection on the real daemon: during a workload (apply, stop, start, kill, delete), kukeond is SIGKILLed at
 * a random moment, then started again. Afterwards nothing acknowledged is lost and nothing leaked: containerd's
 * containers and tasks, the IPAM reservations and the cgroup tree agree with what `kuke get` reports.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupDir } from '../support/cgroups.js';
import { cellManifest, ipamDir, KUKE, startE2eHost, type E2eHost, type RunResult } from '../support/e2e.js';
import { statusesOf } from '../support/documents.js';

const SEED = Number(process.env.KUKEON_PROPERTY_SEED ?? 20261128);
const CASES = Number(process.env.KUKEON_CRASH_CASES ?? 20);
let host: E2eHost;

interface CellJson {
  name: string;
  state: string;
  rootPid: number | null;
  containers: { name: string; state: string; pid: number | null; containerdId: string }[];
}

const TRANSIENT = new Set(['Creating', 'Stopping', 'Deleting', 'Starting']);

function manifest(name: string, containers: 1 | 2): string {
  return cellManifest(name, [{ id: 'main', args: ['sleep', '3600'] }, ...(containers === 2 ? [{ id: 'side', args: ['sleep', '3600'] }] : [])]);
}

/** A small deterministic PRNG (the seed is printed, so a failure can be replayed). */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function spawnKuke(args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KUKE, ...args], { env: host.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function settledCells(): Promise<CellJson[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await host.kuke(['get', 'cells', '-o', 'json']);
    if (r.code === 0) {
      const cells = statusesOf<CellJson>(r.stdout);
      if (cells.every((c) => !TRANSIENT.has(c.state) && c.containers.every((k) => !TRANSIENT.has(k.state)))) return cells;
    }
    if (Date.now() > deadline) throw new Error(`cells did not settle: ${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function ctr(...args: string[]): string {
  return execFileSync('ctr', ['-a', host.ctrd.address, '-n', `default.${host.suffix}`, ...args], { encoding: 'utf8' });
}

/** What the runtime holds agrees with what kuke reports. */
function expectNoLeaks(cells: CellJson[]): void {
  const containers = new Set(ctr('containers', 'ls', '-q').trim().split('\n').filter(Boolean));
  const known = new Set(cells.flatMap((c) => c.containers.map((k) => k.containerdId)));
  expect([...containers].sort(), 'containerd containers').toEqual([...known].sort());
  const running = new Map(
    ctr('tasks', 'ls')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/))
      .filter((f) => f[2] === 'RUNNING')
      .map((f) => [f[0]!, Number(f[1])]),
  );
  const expectedRunning = new Map(cells.flatMap((c) => c.containers.filter((k) => k.state === 'Running').map((k) => [k.containerdId, k.pid!] as [string, number])));
  expect([...running.entries()].sort(), 'running tasks').toEqual([...expectedRunning.entries()].sort());
  const ipam = ipamDir(host);
  const reservations = existsSync(ipam) ? readdirSync(ipam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).length : 0;
  expect(reservations, 'IPAM reservations').toBe(cells.filter((c) => c.state === 'Ready').length);
  const dir = cgroupDir(join(host.cgroupRoot, 'default/default/default'));
  const cgroups = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
  const live = new Set(cells.map((c) => c.name));
  for (const cg of cgroups) expect(live.has(cg), `leaked cgroup ${cg}`).toBe(true);
  for (const c of cells.filter((x) => x.state === 'Ready')) expect(cgroups, `cgroup of Ready cell ${c.name}`).toContain(c.name);
}

beforeAll(async () => {
  host = await startE2eHost({ subnet: '10.255.64.0/18', tag: 'c' });
  const init = await host.local(['init']);
  if (init.code !== 0) throw new Error(init.stderr);
  await host.kuke(['image', 'load', host.testImage.path]);
}, 180_000);
afterAll(async () => {
  await host?.cleanup();
}, 180_000);

describe('crash injection', () => {
  it(`converges after SIGKILLs of kukeond at random moments of a workload (${CASES} cases)`, async () => {
    process.stderr.write(`[crash] seed=${SEED} cases=${CASES} (replay with KUKEON_PROPERTY_SEED=${SEED})\n`);
    const random = prng(SEED);
    const names = ['c0', 'c1', 'c2'];
    for (let i = 0; i < CASES; i++) {
      const cell = names[Math.floor(random() * names.length)]!;
      const pick = Math.floor(random() * 5);
      const op: { args: string[]; input?: string; what: string } =
        pick === 0
          ? { args: ['apply', '-f', '-'], input: manifest(cell, random() < 0.5 ? 1 : 2), what: `apply ${cell}` }
          : pick === 1
            ? { args: ['stop', 'cell', cell, '--timeout', '1s'], what: `stop ${cell}` }
            : pick === 2
              ? { args: ['start', 'cell', cell], what: `start ${cell}` }
              : pick === 3
                ? { args: ['kill', 'cell', cell], what: `kill ${cell}` }
                : { args: ['delete', 'cell', cell], what: `delete ${cell}` };
      const delay = Math.floor(random() * 400);
      const daemonPid = host.daemonPid();
      const running = spawnKuke(op.args, op.input);
      await new Promise((r) => setTimeout(r, delay));
      try {
        process.kill(daemonPid, 'SIGKILL');
      } catch {
        // already gone
      }
      const result = await running;
      process.stderr.write(`[crash] case ${i}: ${op.what}, SIGKILL after ${delay} ms → kuke exit ${result.code}\n`);
      const start = await host.local(['daemon', 'start']);
      expect(start.code, `case ${i} (${op.what} after ${delay} ms): daemon start failed: ${start.stderr}`).toBe(0);
      const cells = await settledCells();
      // An operation acknowledged before the kill is not lost.
      if (result.code === 0 && op.what.startsWith('delete')) expect(cells.some((c) => c.name === cell), `case ${i}: acknowledged delete lost`).toBe(false);
      if (result.code === 0 && op.what.startsWith('apply')) expect(cells.some((c) => c.name === cell), `case ${i}: acknowledged apply lost`).toBe(true);
      expectNoLeaks(cells);
    }
  }, 600_000);
});
