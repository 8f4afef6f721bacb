/**
 * The cgroup root's ownership mark on the real cgroupfs (issue 9, item 8: everything kukeon creates carries an
 * ownership mark checked before anything is deleted). Two installs, A and B, are given the same test-only root
 * `/kukeon-test-<random>`, as a misconfigured second install would be; afterAll removes the roots from every
 * hierarchy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCgroups, type CgroupFs } from '../../../src/runtime/cgroups/cgroupfs.js';
import { cgroupMark, ownedCgroups } from '../../../src/runtime/cgroups/ownership.js';
import type { Cgroups } from '../../../src/runtime/ports.js';
import { kindOf } from '../../support/thrown.js';

const ROOT = `/kukeon-test-${randomBytes(4).toString('hex')}`;
/** A root made by a version without marks. */
const OLD_ROOT = `${ROOT}-old`;
/** Where two installs race to claim the root. */
const RACE_ROOT = `${ROOT}-race`;
const A = randomBytes(8).toString('hex');
const B = randomBytes(8).toString('hex');

let cg: CgroupFs;
let a: Cgroups;
let b: Cgroups;

/** Whether `path` is a directory in every hierarchy (true), in none (false), or in some (the list of where). */
function everywhere(path: string): boolean | string[] {
  const dirs = cg.directories(path).map(({ dir }) => ({ dir, there: existsSync(dir) }));
  if (dirs.every((d) => d.there)) return true;
  if (dirs.every((d) => !d.there)) return false;
  return dirs.filter((d) => d.there).map((d) => d.dir);
}

beforeAll(async () => {
  cg = await createCgroups();
  a = ownedCgroups(cg, { root: ROOT, instance: A });
  b = ownedCgroups(cg, { root: ROOT, instance: B });
});

afterAll(async () => {
  for (const root of [ROOT, OLD_ROOT, RACE_ROOT]) await cg.remove(root);
  for (const root of [ROOT, OLD_ROOT, RACE_ROOT]) expect(everywhere(root)).toBe(false);
});

describe('cgroup root ownership', () => {
  it('marks the root with the install id, in every hierarchy, when the first group under it is made', async () => {
    await a.ensure(`${ROOT}/r1/s1`);
    expect(everywhere(`${ROOT}/${cgroupMark(A)}`)).toBe(true);
    expect(everywhere(`${ROOT}/r1/s1`)).toBe(true);
    expect(await cg.children(ROOT)).toEqual([cgroupMark(A), 'r1']);
  });

  it("refuses to create a group under another install's root, creating nothing", async () => {
    const err = await b.ensure(`${ROOT}/r2`).catch((e: unknown) => e);
    expect(await kindOf(Promise.reject(err))).toBe('FailedPrecondition');
    expect((err as Error).message).toBe(`cgroup root ${ROOT} belongs to another kukeon install (${A}), not to this one (${B}); not creating cgroup ${ROOT}/r2`);
    expect(everywhere(`${ROOT}/r2`)).toBe(false);
    expect(everywhere(`${ROOT}/${cgroupMark(B)}`)).toBe(false);
  });

  it("refuses to remove a group under another install's root, leaving it whole", async () => {
    expect(await kindOf(b.remove(`${ROOT}/r1/s1`))).toBe('FailedPrecondition');
    expect(await kindOf(b.remove(ROOT))).toBe('FailedPrecondition');
    expect(everywhere(`${ROOT}/r1/s1`)).toBe(true);
  });

  it('removes its own groups, and keeps its mark', async () => {
    await a.remove(`${ROOT}/r1`);
    expect(everywhere(`${ROOT}/r1`)).toBe(false);
    expect(everywhere(`${ROOT}/${cgroupMark(A)}`)).toBe(true);
  });

  it('leaves groups outside its root to the plain manager', async () => {
    await b.ensure(`${RACE_ROOT}-x`);
    expect(everywhere(`${RACE_ROOT}-x`)).toBe(true);
    await b.remove(`${RACE_ROOT}-x`);
    expect(everywhere(`${RACE_ROOT}-x`)).toBe(false);
  });

  it('removes from an unmarked root (made before marks existed), and marks it at the next create', async () => {
    const old = ownedCgroups(cg, { root: OLD_ROOT, instance: A });
    await cg.ensure(`${OLD_ROOT}/legacy`);
    await old.remove(`${OLD_ROOT}/legacy`);
    expect(everywhere(`${OLD_ROOT}/legacy`)).toBe(false);
    await old.ensure(`${OLD_ROOT}/fresh`);
    expect(await cg.children(OLD_ROOT)).toEqual(['fresh', cgroupMark(A)]);
  });

  it('leaves at most one mark when two installs claim a root at once, and only the winner creates its group', async () => {
    const racers = [A, B].map((instance) => ownedCgroups(cg, { root: RACE_ROOT, instance }));
    const outcomes = await Promise.allSettled(racers.map((r, i) => r.ensure(`${RACE_ROOT}/g${i}`)));
    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    for (const [i, o] of outcomes.entries()) if (o.status === 'rejected') expect(await kindOf(Promise.reject(o.reason)), `racer ${i}`).toBe('FailedPrecondition');
    expect(won.length).toBeLessThanOrEqual(1);
    expect((await cg.children(RACE_ROOT)).sort()).toEqual(won.flatMap((i) => [cgroupMark([A, B][i]!), `g${i}`]).sort());
  });
});
