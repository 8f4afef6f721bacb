import { describe, expect, it } from 'vitest';
import { daemonArgs } from '../../src/daemon/cell-template.js';
import { ENV, resolveSettings } from '../../src/settings.js';

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
    const args = daemonArgs(resolveSettings({ runcRoot: '/tmp/r', containerdSocket: '/tmp/c.sock', ipMasq: false }, {}), 0);
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(value('--runc-root')).toBe('/tmp/r');
    expect(value('--containerd-socket')).toBe('/tmp/c.sock');
    expect(args).toContain('--no-ip-masq');
    expect(daemonArgs(resolveSettings({}, {}), 0)).not.toContain('--runc-root');
  });
});
