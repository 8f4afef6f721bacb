/**
 * The process spec of an exec: the container's own, with the command, terminal and overrides of the request.
 */
import { describe, expect, it } from 'vitest';
import { ErrorKind, isKukeError } from '../../../src/errors.js';
import { execProcessSpec } from '../../../src/runtime/containerd/exec.js';
import type { OciSpec } from '../../../src/runtime/containerd/oci-spec.js';

const container: OciSpec['process'] = {
  terminal: false,
  user: { uid: 0, gid: 0 },
  args: ['httpd', '-f'],
  env: ['PATH=/bin', 'MODE=prod'],
  cwd: '/srv',
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
  noNewPrivileges: true,
} as OciSpec['process'];

describe('execProcessSpec', () => {
  it('keeps the container env, cwd, user and capabilities, with the command asked for', () => {
    const p = execProcessSpec(container, { args: ['sh'], stdin: false, tty: false }, 'exec');
    expect(p).toEqual({ ...container, args: ['sh'], terminal: false });
  });

  it('adds env entries, a name given again overriding the container value in place', () => {
    const p = execProcessSpec(container, { args: ['sh'], env: ['MODE=debug', 'EXTRA=1'], stdin: false, tty: false }, 'exec');
    expect(p.env).toEqual(['PATH=/bin', 'MODE=debug', 'EXTRA=1']);
  });

  it('sets cwd, a numeric user, the terminal and its size', () => {
    const p = execProcessSpec(container, { args: ['sh'], cwd: '/tmp', user: '1000:100', stdin: true, tty: true, size: { cols: 100, rows: 30 } }, 'exec');
    expect(p).toMatchObject({ cwd: '/tmp', user: { uid: 1000, gid: 100 }, terminal: true, consoleSize: { width: 100, height: 30 } });
  });

  it('refuses a user that is not a uid[:gid] with InvalidArgument', () => {
    let thrown: unknown;
    try {
      execProcessSpec(container, { args: ['sh'], user: 'x:y:z', stdin: false, tty: false }, 'exec');
    } catch (err) {
      thrown = err;
    }
    expect(isKukeError(thrown, ErrorKind.InvalidArgument)).toBe(true);
  });
});
