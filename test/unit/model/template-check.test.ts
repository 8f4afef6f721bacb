import { describe, expect, it } from 'vitest';
import type { CellTemplate, ContainerTemplate } from '../../../events/specs.js';
import { isKukeError } from '../../../src/errors.js';
import { MAX_CELL_TEMPLATE_BYTES, MAX_CONTAINERS_PER_CELL, MAX_ENV_ENTRIES, MAX_ENV_VALUE_BYTES, MAX_LABELS } from '../../../src/model/limits.js';
import { labelKeyProblem, labelValueProblem, validateCellTemplate, validateLabels } from '../../../src/model/template-check.js';
import { template } from '../../support/fake-engine.js';

const main: ContainerTemplate = template('kukeon.local/busybox:test').containers[0]!;
const cell = (container: Partial<ContainerTemplate> = {}, rest: Partial<CellTemplate> = {}): CellTemplate => ({ root: 'main', labels: {}, containers: [{ ...main, ...container }], ...rest });

function problemOf(template: CellTemplate): string {
  try {
    validateCellTemplate(template, 'cell "web"');
  } catch (err) {
    if (isKukeError(err, 'InvalidArgument')) return err.message;
    throw err;
  }
  return 'accepted';
}

describe('cell templates from any path (kuke create cell, the CreateCell RPC, apply)', () => {
  it.each([
    ['the plain template kuke create cell builds', cell()],
    ['env, args and mounts within bounds', cell({ env: ['A=1', `B=${'x'.repeat(MAX_ENV_VALUE_BYTES)}`], args: ['-c', 'sleep 1'], mounts: [{ type: 'tmpfs', target: '/t', options: ['size=1m'] }] })],
    ['Kubernetes-style labels', cell({}, { labels: { 'kukeon.io/component': 'kukeond', tier: 'web-1', empty: '' } })],
    ['cgroup limits within the kernel\'s range', cell({ resources: { memoryBytes: 1 << 26, cpuShares: 512, cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, pidsMax: 50 } })],
    ['restart knobs with a restarting policy', cell({ restartPolicy: 'on-failure', restartBackoffSeconds: 0, restartMaxRetries: 3 })],
  ])('accepts %s', (_what, template) => {
    expect(problemOf(template)).toBe('accepted');
  });

  it.each([
    ['a shell command as the image', cell({ image: 'busybox:test;rm -rf /' }), /^cell "web": containers\[0\]\.image: invalid image reference "busybox:test;rm -rf \/": contains whitespace/],
    ['a path as the image', cell({ image: '../../etc/passwd' }), /invalid image reference/],
    ['an empty image', cell({ image: '' }), /invalid image reference "": is empty/],
    ['an env value over 32 KiB', cell({ env: [`BIG=${'x'.repeat(10 << 20)}`] }), /env\[0\]: the value of "BIG" is 10 MiB, more than the limit of 32 KiB/],
    ['too many env entries', cell({ env: Array.from({ length: MAX_ENV_ENTRIES + 1 }, (_, i) => `K${i}=v`) }), /env: must have at most 1024 entries/],
    ['an env entry without "="', cell({ env: ['NOVALUE'] }), /entries must be KEY=VALUE/],
    ['a NUL in an argument', cell({ args: ['a\0b'] }), /args\[0\]: must not contain a NUL/],
    ['argv and env over the exec limit', cell({ args: Array.from({ length: 10 }, () => 'x'.repeat(30_000)) }), /command, args and env together is 293 KiB, more than the limit of 256 KiB/],
    ['a relative working directory', cell({ workingDir: 'tmp' }), /workingDir: must be an absolute path/],
    ['a relative mount target', cell({ mounts: [{ type: 'bind', source: '/a', target: 'b' }] }), /mounts\[0\]\.target: must be an absolute path/],
    ['an unknown mount type', cell({ mounts: [{ type: 'volume' as 'bind', target: '/b' }] }), /mounts\[0\]\.type: must be one of "bind", "tmpfs"/],
    ['an unknown field (a newer client)', cell({ userr: '1000' } as Partial<ContainerTemplate>), /containers\[0\]\.userr: unknown field/],
    ['a CPU period below 1 ms', cell({ resources: { cpuPeriodUs: 10 } }), /cpuPeriodUs: must be at least 1000/],
    ['a restart backoff over one day', cell({ restartPolicy: 'always', restartBackoffSeconds: 10 ** 9 }), /restartBackoffSeconds: must be at most 86400/],
    ['a backoff without a restarting policy', cell({ restartBackoffSeconds: 5 }), /restartBackoffSeconds: needs restartPolicy always or on-failure/],
    ['a bad container name', cell({ name: 'Main' }, { root: 'Main' }), /root: invalid name "Main": must consist of lowercase letters/],
    ['a root that is not a container', cell({}, { root: 'other' }), /the root container "other" is not one of the cell's containers/],
    ['two containers of one name', { root: 'main', labels: {}, containers: [main, main] }, /container id "main" appears twice/],
    ['host networking under a cell-network root', { root: 'main', labels: {}, containers: [main, { ...main, name: 'side', hostNetwork: true }] }, /needs a host-network root/],
    ['more containers than a cell may have', { root: 'c0', labels: {}, containers: Array.from({ length: MAX_CONTAINERS_PER_CELL + 1 }, (_, i) => ({ ...main, name: `c${i}` })) }, /containers: must have at most 32 containers/],
    ['a label value with a space', cell({}, { labels: { tier: 'a b' } }), /labels\.tier: label value "a b"/],
    ['too many labels', cell({}, { labels: Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v'])) }), /at most 64 labels/],
    [
      'a template over 512 KiB in total',
      { root: 'c0', labels: {}, containers: Array.from({ length: 20 }, (_, i) => ({ ...main, name: `c${i}`, env: Array.from({ length: 8 }, (_, j) => `K${j}=${'x'.repeat(30_000)}`) })) },
      new RegExp(`the cell's spec is .*, more than the limit of ${MAX_CELL_TEMPLATE_BYTES / 1024} KiB`),
    ],
  ])('refuses %s, naming the field', (_what, template, message) => {
    const problem = problemOf(template);
    expect(problem).toMatch(message);
    expect(problem).not.toContain('\n');
  });
});

describe('labels', () => {
  it.each([
    ['tier', undefined],
    ['kukeon.io/component', undefined],
    ['a.b-c_d', undefined],
    ['x'.repeat(63), undefined],
    ['x'.repeat(64), /at most 63/],
    ['a b', /must be \[prefix\/\]name/],
    ['-a', /must be \[prefix\/\]name/],
    ['', /must be \[prefix\/\]name/],
    ['Bad_Prefix/x', /prefix .* must be a DNS subdomain/],
    ['example.com/', /must be \[prefix\/\]name/],
  ])('checks the key %j', (key, problem) => {
    if (problem) expect(labelKeyProblem(key)).toMatch(problem);
    else expect(labelKeyProblem(key)).toBeUndefined();
  });

  it.each([
    ['', undefined],
    ['v1.2_3-x', undefined],
    ['x'.repeat(64), /at most 63/],
    ['a/b', /at most 63 letters/],
    ['trailing-', /starting and ending/],
  ])('checks the value %j', (value, problem) => {
    if (problem) expect(labelValueProblem(value)).toMatch(problem);
    else expect(labelValueProblem(value)).toBeUndefined();
  });

  it('refuses bad labels of a realm, space or stack with the resource named', () => {
    expect(() => validateLabels({ 'a b': 'c' }, 'realm "lab"')).toThrow(/^realm "lab": labels\["a b"\]: label key "a b"/);
  });
});
