import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { errorKindOf, execPlugin, findPlugin, parseCniError } from '../../../src/runtime/cni/exec.js';
import { FakePlugins } from './fake-plugins.js';

const fake = new FakePlugins();
const other = new FakePlugins();
const empty = mkdtempSync(join(tmpdir(), 'kukeon-empty-cni-'));
afterAll(() => {
  fake.remove();
  other.remove();
  rmSync(empty, { recursive: true, force: true });
});

const invocation = { command: 'ADD' as const, containerId: 's_t_c_root', netns: '/proc/1/ns/net', ifname: 'eth0' };

describe('running a CNI plugin', () => {
  it('passes the CNI environment and the config on stdin, and returns the parsed result', async () => {
    fake.plugin('ok', `printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}]}'`);
    const result = await execPlugin('ok', { ...invocation, args: [['IgnoreUnknown', '1'], ['K', 'v']] }, { cniVersion: '1.0.0', name: 'n', type: 'ok' }, { binDirs: [empty, fake.dir] });
    expect(result).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/24' }] });
    expect(fake.calls().at(-1)).toEqual({
      plugin: 'ok',
      command: 'ADD',
      containerId: 's_t_c_root',
      netns: '/proc/1/ns/net',
      ifname: 'eth0',
      args: 'IgnoreUnknown=1;K=v',
      path: `${empty}:${fake.dir}`,
      stdin: { cniVersion: '1.0.0', name: 'n', type: 'ok' },
    });
  });

  it('returns undefined when a plugin succeeds silently (DEL, CHECK)', async () => {
    fake.plugin('quiet', 'exit 0');
    expect(await execPlugin('quiet', { ...invocation, command: 'DEL', netns: '' }, {}, { binDirs: [fake.dir] })).toBeUndefined();
  });

  it('takes the plugin from the first directory that has it', () => {
    fake.plugin('both', 'exit 0');
    other.plugin('both', 'exit 0');
    expect(findPlugin('both', [empty, other.dir, fake.dir])).toBe(join(other.dir, 'both'));
  });

  it('reports a missing plugin as NotFound naming every directory searched', () => {
    const err = (() => {
      try {
        findPlugin('bridge', [empty, fake.dir]);
      } catch (e) {
        return e;
      }
    })();
    expect(isKukeError(err, 'NotFound')).toBe(true);
    expect((err as Error).message).toContain(`"bridge" not found in ${empty}, ${fake.dir}`);
  });

  it('refuses a plugin type that is a path', () => {
    expect(() => findPlugin('../../bin/sh', [fake.dir])).toThrow(expect.objectContaining({ kind: 'InvalidArgument' }));
  });

  it.each([
    [7, 'invalid config', 'InvalidArgument'],
    [1, 'incompatible CNI version', 'InvalidArgument'],
    [3, 'container unknown', 'NotFound'],
    [11, 'try again later', 'Unavailable'],
    [999, 'failed to set bridge addr', 'Internal'],
    [999, 'failed to allocate for range 0: no IP addresses available in range set: 10.9.0.1-10.9.0.254', 'FailedPrecondition'],
    [999, 'failed to allocate for range 0: requested IP address 10.9.0.7 is not available in range set 10.9.0.1-10.9.0.254', 'FailedPrecondition'],
  ])('turns CNI error %i (%s) into %s, keeping the plugin message', async (code, msg, kind) => {
    fake.plugin('failing', `printf '{"code":${code},"msg":"${msg}","details":"more"}'; exit 1`);
    const err = await execPlugin('failing', invocation, {}, { binDirs: [fake.dir] }).catch((e: unknown) => e);
    expect(isKukeError(err, kind as never)).toBe(true);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).toContain('(more)');
  });

  it('keeps the raw output of a plugin that fails without a CNI error object', async () => {
    fake.plugin('crashy', `echo 'panic: runtime error' >&2; exit 2`);
    const err = await execPlugin('crashy', invocation, {}, { binDirs: [fake.dir] }).catch((e: unknown) => e);
    expect(isKukeError(err, 'Internal')).toBe(true);
    expect((err as Error).message).toContain('panic: runtime error');
  });

  it('rejects a successful answer that is not JSON', async () => {
    fake.plugin('garbled', `echo 'hello'`);
    expect(isKukeError(await execPlugin('garbled', invocation, {}, { binDirs: [fake.dir] }).catch((e: unknown) => e), 'Internal')).toBe(true);
  });

  it('kills a plugin that hangs and reports Unavailable', async () => {
    fake.plugin('hang', 'exec sleep 30');
    const started = Date.now();
    const err = await execPlugin('hang', invocation, {}, { binDirs: [fake.dir], timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isKukeError(err, 'Unavailable')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reads error objects and falls back to the text', () => {
    expect(parseCniError('{"code":7,"msg":"bad"}', '', 'x')).toEqual({ code: 7, msg: 'bad' });
    expect(parseCniError('', 'boom\n', 'x')).toEqual({ msg: 'boom' });
    expect(parseCniError('', '', 'exit code 3')).toEqual({ msg: 'exit code 3' });
    expect(errorKindOf({})).toBe('Internal');
  });
});
