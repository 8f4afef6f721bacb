import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bridgeName,
  cgroupPath,
  containerdId,
  containerdIdentifierProblem,
  interfaceNameProblem,
  legacyNetworkName,
  MAX_CONTAINERD_ID_LENGTH,
  MAX_NETWORK_NAME_LENGTH,
  maxRealmNameLength,
  nameProblem,
  namespaceSuffixProblem,
  networkName,
  networkNameProblem,
  normalizeCgroupRoot,
  realmNamespace,
  runPathProblem,
  socketPathProblem,
  validateIdPart,
  validateName,
  validateNamespaceOverride,
} from '../../../src/model/names.js';
import { isKukeError } from '../../../src/errors.js';

const INSTANCE = '3fa94c1e0b7d2a65';

describe('names', () => {
  it.each([['a_b'], ['../x'], ['A'], [''], ['-x'], ['x-'], ['a'.repeat(64)], ['a.b'], ['a/b'], ['a\0b'], ['ünï']])('rejects %j with InvalidArgument', (name) => {
    let error: unknown;
    try {
      validateName('cell', name);
    } catch (err) {
      error = err;
    }
    expect(isKukeError(error, 'InvalidArgument')).toBe(true);
  });

  it.each([['a'], ['web-1'], ['a'.repeat(63)], ['0']])('accepts %j', (name) => {
    expect(nameProblem(name)).toBeUndefined();
  });

  it('derives the names the original uses', () => {
    expect(realmNamespace('default')).toBe('default.kukeon.io');
    expect(containerdId('kukeon', 'kukeon', 'kukeond', 'x', true)).toBe('kukeon_kukeon_kukeond_root');
    expect(containerdId('s', 't', 'c', 'web', false)).toBe('s_t_c_web');
    expect(bridgeName(legacyNetworkName('default', 'default'))).toBe('k-703e8b3a');
    expect(bridgeName('kuke-system-kukeon')).toBe('k-082023b5');
    expect(cgroupPath({ realm: 'kukeon-system', space: 'kukeon', stack: 'kukeon', cell: 'kukeond' })).toBe('/kukeon/kukeon-system/kukeon/kukeon/kukeond');
  });

  it('refuses a containerd id over 76 characters', () => {
    const long = 'a'.repeat(40);
    expect(() => containerdId(long, long, 'c', 'x', false)).toThrow(/76/);
  });

  it('never lets an accepted name escape a path or exceed a limit', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (name) => {
        if (nameProblem(name) !== undefined) return;
        expect(name).not.toMatch(/[/._\0]/);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(bridgeName(networkName(name, name, INSTANCE)).length).toBeLessThanOrEqual(15);
        expect(networkNameProblem(networkName(name, name, INSTANCE))).toBeUndefined();
      }),
      { seed: 20261128, numRuns: 2000 },
    );
  });
});

/** A `*Problem` function's answer: none when `problem` is undefined, else one that contains it. */
function expectProblem(found: string | undefined, problem: string | undefined): void {
  if (problem === undefined) expect(found).toBeUndefined();
  else expect(found).toContain(problem);
}

/** What a thrown error was, for tables: its kind and message, or 'ok'. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isKukeError(err) ? `${err.kind}: ${err.message}` : `not a KukeError: ${String(err)}`;
  }
}

describe('containerd identifiers (pkg/identifiers: letters and digits joined by single ".", "_" or "-", at most 76)', () => {
  it.each([
    ['default.kukeon.io', undefined],
    ['s_t_c_root', undefined],
    ['A1-b2.C3_d4', undefined],
    ['a'.repeat(76), undefined],
    ['', 'must not be empty'],
    ['a'.repeat(77), 'is 77 characters; containerd allows 76'],
    ['Bad NS!', 'found " "'],
    ['ünï', 'found "U+00FC"'],
    ['a--b.kukeon.io', 'has "--"'],
    ['a._b', 'has "._"'],
    ['-a', 'must start and end with a letter or digit'],
    ['a.', 'must start and end with a letter or digit'],
  ])('%j → %s', (id, problem) => {
    expectProblem(containerdIdentifierProblem(id), problem);
  });
});

describe('realm namespaces: <realm>.<suffix>, checked with the suffix', () => {
  it.each([
    ['default', 'kukeon.io', 'ok'],
    ['a'.repeat(63), 'kukeon.io', 'ok'],
    ['a'.repeat(63), 'tabc123.kukeon.io', 'InvalidArgument: realm name "' + 'a'.repeat(63) + '" makes the containerd namespace'],
    ['a'.repeat(58), 'tabc123.kukeon.io', 'ok'],
    ['a--b', 'kukeon.io', 'InvalidArgument: realm name "a--b" makes the containerd namespace "a--b.kukeon.io", which has "--"'],
    ['Bad', 'kukeon.io', 'InvalidArgument: invalid realm name "Bad"'],
  ])('realm %j with suffix %j → %s', (realm, suffix, expected) => {
    expect(outcome(() => realmNamespace(realm, suffix))).toContain(expected);
  });

  it('names the longest realm that fits in the hint', () => {
    const suffix = 'tabc123.kukeon.io';
    let hint: string | undefined;
    try {
      realmNamespace('a'.repeat(63), suffix);
    } catch (err) {
      hint = (err as { hint?: string }).hint;
    }
    expect(maxRealmNameLength(suffix)).toBe(MAX_CONTAINERD_ID_LENGTH - 1 - suffix.length);
    expect(hint).toContain(`at most ${maxRealmNameLength(suffix)} characters`);
    expect(() => realmNamespace('a'.repeat(maxRealmNameLength(suffix)), suffix)).not.toThrow();
  });

  it.each([
    ['kukeon.io', undefined],
    ['t1.kukeon.io', undefined],
    ['Bad NS!', 'found " "'],
    ['a'.repeat(75), 'no realm namespace fits'],
    ['.kukeon.io', 'must start and end'],
  ])('suffix %j → %s', (suffix, problem) => {
    expectProblem(namespaceSuffixProblem(suffix), problem);
  });

  it.each([
    ['web.kukeon.io', 'ok'],
    ['Bad NS!', 'InvalidArgument: invalid namespace "Bad NS!" for realm "r": it may hold only letters, digits'],
    ['a'.repeat(77), 'InvalidArgument: invalid namespace "' + 'a'.repeat(77) + '" for realm "r": it is 77 characters; containerd allows 76'],
    ['', 'InvalidArgument: invalid namespace "" for realm "r": it must not be empty'],
    [42, 'InvalidArgument: invalid namespace 42 for realm "r": it must be a string'],
  ])('spec.namespace %j → %s', (namespace, expected) => {
    expect(outcome(() => validateNamespaceOverride('r', namespace))).toContain(expected);
  });
});

describe('container ids: <space>_<stack>_<cell>_<container>', () => {
  it.each([
    [['s', 't', 'c', 'web', false], 'ok'],
    [['a'.repeat(20), 'b'.repeat(20), 'c'.repeat(20), 'd'.repeat(13), false], 'ok'],
    [['a'.repeat(20), 'b'.repeat(20), 'c'.repeat(20), 'd'.repeat(14), false], 'InvalidArgument: container id'],
    [['a--b', 't', 'c', 'web', false], 'has "--"'],
    [['s', 't', 'c', 'Web', false], 'InvalidArgument: invalid container name "Web"'],
  ] as [[string, string, string, string, boolean], string][])('%j → %s', (args, expected) => {
    expect(outcome(() => containerdId(...args))).toContain(expected);
  });

  it.each([
    ['space', 'web-1', 'ok'],
    ['stack', 'a--b', 'InvalidArgument: invalid stack name "a--b": it has "--"'],
    ['cell', 'xn--p1ai', 'InvalidArgument: invalid cell name "xn--p1ai"'],
    ['container', 'a_b', 'InvalidArgument: invalid container name "a_b"'],
  ] as const)('%s name %j → %s', (kind, name, expected) => {
    expect(outcome(() => validateIdPart(kind, name))).toContain(expected);
  });
});

describe('CNI network names and interfaces', () => {
  it('puts the install into new network names, with "." so realm and space cannot run into each other', () => {
    expect(networkName('default', 'default', INSTANCE)).toBe('default.default.3fa94c1e');
    expect(networkName('a-b', 'c', INSTANCE)).not.toBe(networkName('a', 'b-c', INSTANCE));
    expect(bridgeName(networkName('default', 'default', INSTANCE))).not.toBe(bridgeName(networkName('default', 'default', 'aaaaaaaaaaaaaaaa')));
    expect(outcome(() => networkName('default', 'default', 'nope'))).toContain('Internal');
  });

  it.each([
    ['default-default', undefined],
    ['default.default.3fa94c1e', undefined],
    ['a'.repeat(MAX_NETWORK_NAME_LENGTH), undefined],
    ['a'.repeat(MAX_NETWORK_NAME_LENGTH + 1), 'at most 162 fit'],
    ['', 'must not be empty'],
    ['-x', "CNI's rule"],
    ['a/b', "CNI's rule"],
    ['a b', "CNI's rule"],
    ['Default-default', 'must be lowercase'],
  ])('network %j → %s', (name, problem) => {
    expectProblem(networkNameProblem(name), problem);
  });

  it.each([
    ['k-703e8b3a', undefined],
    ['eth0', undefined],
    ['a'.repeat(15), undefined],
    ['a'.repeat(16), 'IFNAMSIZ'],
    ['', 'must not be empty'],
    ['..', 'must not be "." or ".."'],
    ['a:b', 'must not hold'],
    ['a b', 'must not hold'],
    ['a/b', 'must not hold'],
  ])('interface %j → %s', (name, problem) => {
    expectProblem(interfaceNameProblem(name), problem);
  });
});

describe('paths: cgroup root, run path, unix sockets', () => {
  it.each([
    ['/kukeon', 'ok'],
    ['/kukeon/', 'ok'],
    ['/test-1234/kukeon', 'ok'],
    ['kukeon', 'InvalidArgument: invalid cgroup root'],
    ['/a/../b', 'InvalidArgument: invalid cgroup root'],
    [`/${'a'.repeat(256)}`, 'file names allow 255'],
    [`/${Array.from({ length: 20 }, () => 'a'.repeat(200)).join('/')}`, 'the kernel allows 4095'],
  ])('cgroup root %j → %s', (root, expected) => {
    expect(outcome(() => normalizeCgroupRoot(root))).toContain(expected);
  });

  it.each([
    ['/opt/kukeon', undefined],
    ['', 'it is empty'],
    ['/opt/a\0b', 'NUL'],
    [`/${'a'.repeat(256)}`, 'file names allow 255'],
    [`/${Array.from({ length: 20 }, () => 'a'.repeat(200)).join('/')}`, 'the kernel allows 4095'],
  ])('run path %j → %s', (path, problem) => {
    expectProblem(runPathProblem(path), problem);
  });

  it.each([
    ['/run/kukeon/kukeond.sock', undefined],
    [`/${'a'.repeat(106)}`, undefined],
    [`/${'a'.repeat(107)}`, 'is 108 bytes; unix sockets allow 107'],
    [`/${'ü'.repeat(54)}`, 'is 109 bytes'],
    ['', 'is empty'],
  ])('socket %j → %s', (path, problem) => {
    expectProblem(socketPathProblem(path), problem);
  });
});
