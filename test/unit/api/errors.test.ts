import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { fromServiceError, toServiceError } from '../../../src/api/errors.js';
import { ERROR_KINDS } from '../../../events/errors.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';

const unreachable = (errno: string) => ({
  code: status.UNAVAILABLE,
  details: `No connection established. Last error: Error: connect ${errno} /run/kukeon/kukeond.sock. Resolution note: `,
  metadata: new Metadata(),
});

describe('errors across the API', () => {
  it('keep their kind and hint from daemon to client', () => {
    const back = fromServiceError(toServiceError(new KukeError(ErrorKind.AlreadyExists, 'cell "web" exists', { hint: 'pick another name' })), '/s.sock');
    expect(back).toMatchObject({ kind: 'AlreadyExists', message: 'cell "web" exists', hint: 'pick another name' });
  });

  it('map every kind to its own gRPC code, so a client without our metadata still gets the kind back', () => {
    for (const kind of ERROR_KINDS) {
      const { code, details } = toServiceError(new KukeError(kind, 'x'));
      expect(fromServiceError({ code, details, metadata: new Metadata() }, '/s.sock').kind, kind).toBe(kind);
    }
    expect(toServiceError(new KukeError(ErrorKind.ResourceExhausted, 'disk full')).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('say that a daemon without the method runs another version, and how to switch it to this build', () => {
    const err = fromServiceError({ code: status.UNIMPLEMENTED, details: 'The server does not implement the method /kukeon.v1.KukeonService/Find', metadata: new Metadata() }, '/s.sock');
    expect(err.kind).toBe(ErrorKind.FailedPrecondition);
    expect(err.message).toBe('kukeond at /s.sock does not serve this request: it runs another version than this kuke');
    expect(err.hint).toBe('switch the daemon to this build: sudo kuke daemon recreate');
  });

  it("say why the daemon cannot be reached in a few words, without grpc-js's wording", () => {
    expect(fromServiceError(unreachable('ENOENT'), '/run/kukeon/kukeond.sock').message).toBe('cannot reach kukeond at /run/kukeon/kukeond.sock: connect ENOENT (no socket at that path)');
    expect(fromServiceError(unreachable('ECONNREFUSED'), '/run/kukeon/kukeond.sock').message).toBe('cannot reach kukeond at /run/kukeon/kukeond.sock: connect ECONNREFUSED (nothing listens on that socket)');
    const denied = fromServiceError(unreachable('EACCES'), '/run/kukeon/kukeond.sock');
    expect(denied.kind).toBe('PermissionDenied');
    expect(denied.hint).toContain('usermod -aG kukeon');
    expect(fromServiceError({ code: status.UNAVAILABLE, details: 'Connection dropped. Resolution note: ', metadata: new Metadata() }, '/s').message).toBe('cannot reach kukeond at /s: Connection dropped');
  });
});
