/**
 * Inputs that used to brick a host (issue 9, first bullet): a Realm whose `spec.namespace` containerd refuses, and a
 * 63-character realm whose namespace with the suffix exceeds containerd's 76 characters. Both are refused when
 * created (through the daemon; the in-process path runs the same operations): exit 1, one line naming the problem, nothing created (no realm in the
 * log, no containerd namespace, no cgroup), and the daemon still restarts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupDir } from '../support/cgroups.js';
import { expectOneLineError, useInitializedHost, type RunResult } from '../support/e2e.js';
import { namesOf } from '../support/documents.js';

const hostOf = useInitializedHost({ subnet: '10.255.192.0/18', tag: 'n' });
const LONG = 'r'.repeat(63);

const namespaces = () => execFileSync('ctr', ['-a', hostOf().ctrd.address, 'namespaces', 'ls', '-q'], { encoding: 'utf8' }).trim().split('\n');
async function realms(): Promise<string[]> {
  const r = await hostOf().kuke(['get', 'realms', '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return namesOf(r.stdout).sort();
}
/** What a refusal must leave: no realm of that name, no namespace of it, no cgroup. */
async function expectNothingOf(realm: string): Promise<void> {
  expect(await realms()).toEqual(['default', 'kukeon-system']);
  expect(namespaces().filter((n) => n.startsWith(`${realm}.`) || n === 'Bad NS!')).toEqual([]);
  expect(existsSync(cgroupDir(join(hostOf().cgroupRoot, realm)))).toBe(false);
}
const noBug = (r: RunResult) => expect(r.stderr).not.toMatch(/bug/i);

describe('identifiers containerd would refuse', () => {
  it('refuses a Realm with spec.namespace "Bad NS!": exit 1, one error line, the document\'s error naming it, nothing created', async () => {
    const manifest = 'kind: Realm\nmetadata: {name: lab}\nspec: {namespace: "Bad NS!"}\n';
    const r = await hostOf().kuke(['apply', '-f', '-'], { input: manifest });
    // Refused before anything is applied (kuke apply checks every document first), so no document is reported.
    expect(expectOneLineError(r)).toContain('invalid namespace "Bad NS!" for realm "lab": it may hold only letters, digits, ".", "_" and "-" (found " ")');
    expect(r.stdout).toBe('');
    noBug(r);
    await expectNothingOf('lab');
  });

  it('refuses a 63-character realm whose namespace with the suffix is over 76 characters, naming the longest that fits', async () => {
    const fits = 76 - 1 - hostOf().suffix.length;
    const r = await hostOf().kuke(['create', 'realm', LONG]);
    expect(expectOneLineError(r)).toContain(`containerd allows 76; use a realm name of at most ${fits} characters`);
    noBug(r);
    await expectNothingOf(LONG);
    const ok = await hostOf().kuke(['create', 'realm', 'r'.repeat(fits)]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(namespaces()).toContain(`${'r'.repeat(fits)}.${hostOf().suffix}`);
  });

  it('still restarts the daemon afterwards, which serves every realm', async () => {
    const restart = await hostOf().local(['daemon', 'restart']);
    expect(restart.code, restart.stderr).toBe(0);
    const r = await hostOf().kuke(['get', 'realms']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\ndefault +/);
  });
});
