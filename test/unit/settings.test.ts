import { describe, expect, it } from 'vitest';
import { daemonArgs } from '../../src/daemon/cell-template.js';
import { isKukeError } from '../../src/errors.js';
import { ENV, parseByteSize, parseCount, resolveSettings } from '../../src/settings.js';
import { thrown } from '../support/thrown.js';

describe('host settings', () => {
  it('take a flag over the environment, and the environment over the default', () => {
    expect(resolveSettings({}, {}).containerdSocket).toBe('/run/containerd/containerd.sock');
    expect(resolveSettings({}, { [ENV.containerdSocket]: '/tmp/env.sock' }).containerdSocket).toBe('/tmp/env.sock');
    expect(resolveSettings({ containerdSocket: '/tmp/flag.sock' }, { [ENV.containerdSocket]: '/tmp/env.sock' }).containerdSocket).toBe('/tmp/flag.sock');
  });

  it("keep runc's own state root unless one is given", () => {
    expect(resolveSettings({}, {}).runcRoot).toBeUndefined();
    expect(resolveSettings({}, { [ENV.runcRoot]: '' }).runcRoot).toBeUndefined();
    expect(resolveSettings({}, { [ENV.runcRoot]: '/tmp/runc' }).runcRoot).toBe('/tmp/runc');
    expect(resolveSettings({ runcRoot: '/tmp/flag-runc' }, { [ENV.runcRoot]: '/tmp/runc' }).runcRoot).toBe('/tmp/flag-runc');
  });

  it('reach the daemon in its cell verbatim, the runc root included, so its tasks land where kuke init put its own', () => {
    const args = daemonArgs(resolveSettings({ runcRoot: '/tmp/r', containerdSocket: '/tmp/c.sock', ipMasq: false }, {}), { socket: 0 });
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value('--runc-root')).toBe('/tmp/r');
    expect(value('--containerd-socket')).toBe('/tmp/c.sock');
    expect(args).toContain('--no-ip-masq');
    expect(daemonArgs(resolveSettings({}, {}), { socket: 0 })).not.toContain('--runc-root');
  });

  it('hand the daemon its role groups as name:gid, and the bind allow-list', () => {
    const args = daemonArgs(resolveSettings({ allowBindPath: ['/srv/a', '/srv/b'] }, {}), { socket: 990, admin: 991 });
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect([value('--socket-group'), value('--admin-group'), value('--view-group')]).toEqual(['kukeon:990', 'kukeon-admin:991', 'kukeon-view']);
    expect(args.join(' ')).toContain('--allow-bind-path /srv/a --allow-bind-path /srv/b');
    expect(isKukeError(thrown(() => resolveSettings({}, { [ENV.allowedBindPaths]: 'srv' })))).toBe(true);
    expect(isKukeError(thrown(() => resolveSettings({ allowBindPath: ['/'] }, {})))).toBe(true);
  });

  it('bound container logs at 10 MiB and 3 files by default, with a flag over the environment', () => {
    expect(resolveSettings({}, {}).engine).toMatchObject({ logMaxBytes: 10 * 1024 * 1024, logMaxFiles: 3 });
    const env = { [ENV.logMaxSize]: '512k', [ENV.logMaxFile]: '5' };
    expect(resolveSettings({}, env).engine).toMatchObject({ logMaxBytes: 512 * 1024, logMaxFiles: 5 });
    expect(resolveSettings({ logMaxSize: '1g', logMaxFile: '1' }, env).engine).toMatchObject({ logMaxBytes: 1024 ** 3, logMaxFiles: 1 });
    expect(resolveSettings({}, { [ENV.logMaxSize]: '' }).engine.logMaxBytes).toBe(10 * 1024 * 1024);
  });

  it.each([['10m', 10 * 1024 ** 2], ['10M', 10 * 1024 ** 2], ['2048', 2048], ['1KiB', 1024], ['3mb', 3 * 1024 ** 2], ['7b', 7]])('read the size %s as Docker does (binary multiples)', (text, bytes) => {
    expect(parseByteSize(text, '--log-max-size')).toBe(bytes);
  });

  it.each(['0', '-1', '10x', 'banana', '1.5m', '', '99999999999g'])('refuse the size %j as InvalidArgument naming the flag', (text) => {
    const err = thrown(() => parseByteSize(text, '--log-max-size'));
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/^--log-max-size /);
  });

  it.each(['0', '-2', '2.5', 'three'])('refuse the file count %j as InvalidArgument naming the flag', (text) => {
    const err = thrown(() => parseCount(text, '--log-max-file'));
    expect(isKukeError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toMatch(/^--log-max-file /);
    expect(parseCount('4', '--log-max-file')).toBe(4);
  });

  it('give the daemon in its cell the log limits only when they differ from the defaults', () => {
    expect(daemonArgs(resolveSettings({}, {}), { socket: 0 }).join(' ')).not.toMatch(/--log-max/);
    const args = daemonArgs(resolveSettings({ logMaxSize: '1m', logMaxFile: '2' }, {}), { socket: 0 });
    expect(args.slice(args.indexOf('--log-max-size'), args.indexOf('--log-max-size') + 2)).toEqual(['--log-max-size', String(1024 * 1024)]);
    expect(args.slice(args.indexOf('--log-max-file'), args.indexOf('--log-max-file') + 2)).toEqual(['--log-max-file', '2']);
  });
});
