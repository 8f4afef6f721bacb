import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ERROR_KINDS } from '../../../events/errors.js';
import { ErrorKind, KukeError } from '../../../src/errors.js';
import { fromGrpc, isoTime, KIND_OF_STATUS, tolerate } from '../../../src/runtime/containerd/connection.js';

function grpcError(code: status, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: undefined });
}

describe('gRPC statuses from containerd', () => {
  it('map every status code to an error kind', () => {
    const codes = Object.values(status).filter((v): v is status => typeof v === 'number');
    for (const code of codes) expect(ERROR_KINDS).toContain(KIND_OF_STATUS[code]);
    expect(KIND_OF_STATUS[status.NOT_FOUND]).toBe(ErrorKind.NotFound);
    expect(KIND_OF_STATUS[status.ALREADY_EXISTS]).toBe(ErrorKind.AlreadyExists);
    expect(KIND_OF_STATUS[status.FAILED_PRECONDITION]).toBe(ErrorKind.FailedPrecondition);
    expect(KIND_OF_STATUS[status.UNAVAILABLE]).toBe(ErrorKind.Unavailable);
    // The shim's and runc's refusals: the caller re-inspects, and must not retry blindly.
    expect(KIND_OF_STATUS[status.UNKNOWN]).toBe(ErrorKind.FailedPrecondition);
  });

  it('become KukeErrors saying what was being done', () => {
    const err = fromGrpc(grpcError(status.NOT_FOUND, 'container "x" in namespace "n": not found'), 'task x in n', '/s.sock');
    expect(err.kind).toBe(ErrorKind.NotFound);
    expect(err.message).toBe('task x in n: container "x" in namespace "n": not found');
    const shim = fromGrpc(grpcError(status.UNKNOWN, 'cannot start a running process: unknown'), 'starting task x', '/s.sock');
    expect(shim.message).toBe('starting task x: cannot start a running process');
  });

  it('name the socket and hint at containerd when it is unavailable', () => {
    const err = fromGrpc(grpcError(status.UNAVAILABLE, 'connect ENOENT /s.sock'), 'listing namespaces', '/s.sock');
    expect(err.kind).toBe(ErrorKind.Unavailable);
    expect(err.message).toContain('/s.sock');
    expect(err.hint).toMatch(/containerd/);
  });

  it('leave KukeErrors alone and make anything else Internal', () => {
    const own = new KukeError(ErrorKind.Conflict, 'mine');
    expect(fromGrpc(own, 'x', '/s')).toBe(own);
    expect(fromGrpc(new Error('boom'), 'x', '/s').kind).toBe(ErrorKind.Internal);
  });
});

describe('helpers', () => {
  it('tolerate turns the listed kinds into undefined and rethrows the rest', async () => {
    await expect(tolerate(Promise.reject(new KukeError(ErrorKind.NotFound, 'gone')), ErrorKind.NotFound)).resolves.toBeUndefined();
    await expect(tolerate(Promise.resolve(3), ErrorKind.NotFound)).resolves.toBe(3);
    await expect(tolerate(Promise.reject(new KukeError(ErrorKind.Internal, 'bad')), ErrorKind.NotFound)).rejects.toMatchObject({ kind: ErrorKind.Internal });
  });

  it("isoTime treats Go's zero time as unset", () => {
    expect(isoTime({ seconds: -62135596800, nanos: 0 })).toBeUndefined();
    expect(isoTime(undefined)).toBeUndefined();
    expect(isoTime({ seconds: 1_700_000_000, nanos: 5_000_000 })).toBe('2023-11-14T22:13:20.005Z');
  });
});
