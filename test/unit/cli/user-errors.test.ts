/**
 * User errors are user errors (issue 9, item 7): a bad flag value, a usage mistake or an unknown option ends with
 * exit 1 and one line naming the problem and what to do, before any client is opened; only an Internal fault says
 * "bug", and it points at details that exist.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { fromServiceError } from '../../../src/api/errors.js';
import { errorLine } from '../../../src/cli/errors.js';
import { runKuke } from '../../../src/cli/program.js';
import { MAX_DURATION_MS, parseDuration, parseLogPoint } from '../../../src/cli/values.js';
import { ErrorKind, KukeError, isKukeError } from '../../../src/errors.js';
import { thrown } from '../../support/thrown.js';

/** Runs kuke with factories that fail the test if a client is ever asked for. */
async function kuke(argv: string[]) {
  let out = '';
  let err = '';
  let clients = 0;
  const never = async () => {
    clients++;
    throw new Error('no client may be opened for bad input');
  };
  const code = await runKuke(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { daemon: never, inProcess: never }, {});
  return { code, out, err, clients };
}

const BAD_INPUTS: { argv: string[]; says: RegExp }[] = [
  { argv: ['stop', 'cell', 'web', '--timeout', '-5s'], says: /--timeout "-5s" is not a duration; use .* 10s/ },
  { argv: ['stop', 'cell', 'web', '--timeout', 'banana'], says: /--timeout "banana" is not a duration/ },
  { argv: ['restart', 'cell', 'web', '--timeout', '1.5s'], says: /--timeout "1\.5s" is not a duration/ },
  { argv: ['stop', 'cell', 'web', '--timeout', '48h'], says: /--timeout "48h" is longer than 24h/ },
  { argv: ['daemon', 'stop', '--timeout', 'soon'], says: /--timeout "soon" is not a duration/ },
  { argv: ['daemon', 'restart', '--timeout', '-1'], says: /--timeout "-1" is not a duration/ },
  { argv: ['get', 'cells', '--at', '99999999999999999999'], says: /--at 99999999999999999999 is beyond any event seq; pick a seq/ },
  { argv: ['get', 'cells', '--at', '-1'], says: /--at "-1" is neither an event seq nor a time; use a seq from kuke history/ },
  { argv: ['get', 'cells', '--at', '0'], says: /--at 0 names no event: seqs start at 1/ },
  { argv: ['get', 'cells', '--at', '2026-13-45'], says: /--at "2026-13-45" is neither an event seq nor a time/ },
  { argv: ['history', 'cell', 'web', '--since', 'yesterday'], says: /^Error: --since "yesterday" is neither an event seq nor a time; use .*--since 10m/ },
  { argv: ['get', 'cells', '--bogus'], says: /^Error: unknown option '--bogus'; see: kuke get --help$/ },
  { argv: ['get', 'cells', '--outptu', 'json'], says: /unknown option '--outptu' \(did you mean --output\?\); see: kuke get --help/ },
  { argv: ['get'], says: /missing required argument 'kind'; see: kuke get --help/ },
  { argv: ['stop', 'cell'], says: /missing required argument 'name'; see: kuke stop --help/ },
  { argv: ['get', 'cells', '-o'], says: /argument missing; see: kuke get --help/ },
  { argv: ['get', 'cells', 'a', 'b'], says: /too many arguments for 'get'/ },
  // A word close to none of the commands ('bogus' is two edits from 'logs', which commander would suggest).
  { argv: ['frobnicate'], says: /^Error: unknown command 'frobnicate'; see: kuke --help$/ },
  { argv: ['help', 'bogus'], says: /^Error: unknown command "bogus"; see: kuke --help$/ },
  { argv: ['daemon'], says: /^Error: kuke daemon needs a subcommand; use one of: start, stop, .* \(see: kuke daemon --help\)$/ },
  { argv: ['daemon', 'frobnicate'], says: /unknown command "frobnicate" for kuke daemon; use one of: start/ },
  { argv: ['daemon', 'stop', '--bogus'], says: /unknown option '--bogus'; see: kuke daemon stop --help/ },
];

describe('bad flag values and usage mistakes', () => {
  for (const { argv, says } of BAD_INPUTS) {
    it(`refuses kuke ${argv.join(' ')} with one line and exit 1, opening no client`, async () => {
      const r = await kuke(argv);
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      const lines = r.err.split('\n').filter(Boolean);
      expect(lines, r.err).toHaveLength(1);
      expect(lines[0]).toMatch(/^Error: /);
      expect(lines[0]).toMatch(says);
      expect(lines[0]).not.toMatch(/bug/i);
      expect(r.clients).toBe(0);
    });
  }

  it('still prints help with exit 0', async () => {
    const r = await kuke(['daemon', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: kuke daemon \[options\] \[command\]\n/);
    const topic = await kuke(['help', 'get']);
    expect(topic.code).toBe(0);
    expect(topic.out).toMatch(/^Usage: kuke get\|g \[options\] <kind> \[name\]\n/);
    expect(topic.err).toBe('');
  });
});

describe('durations', () => {
  it('reads whole numbers with ms, s, m or h, and bare numbers as seconds', () => {
    expect([parseDuration('--timeout', '500ms'), parseDuration('--timeout', '10s'), parseDuration('--timeout', '2m'), parseDuration('--timeout', '1h'), parseDuration('--timeout', '7')]).toEqual([500, 10_000, 120_000, 3_600_000, 7_000]);
    expect(parseDuration('--timeout', '0')).toBe(0);
    expect(parseDuration('--timeout', '24h')).toBe(MAX_DURATION_MS);
  });

  it('refuses anything else as InvalidArgument', () => {
    for (const bad of ['', ' ', '-5s', '5 s', '1e3', '0x10', '10d', 'Infinity', '25h', '9999999999s']) {
      expect(isKukeError(thrown(() => parseDuration('--timeout', bad)), ErrorKind.InvalidArgument), bad).toBe(true);
    }
  });
});

describe('points in the log (--at, --since)', () => {
  const now = () => Date.UTC(2026, 10, 28, 18, 0, 0);
  it('reads a seq, an RFC 3339 time, or a duration ago', () => {
    expect(parseLogPoint('--at', '120')).toEqual({ atSeq: 120 });
    expect(parseLogPoint('--at', '2026-11-28T18:00:00Z')).toEqual({ atTime: '2026-11-28T18:00:00.000Z' });
    expect(parseLogPoint('--at', '2026-11-28T19:00:00+01:00')).toEqual({ atTime: '2026-11-28T18:00:00.000Z' });
    expect(parseLogPoint('--since', '10m', now)).toEqual({ atTime: '2026-11-28T17:50:00.000Z' });
  });

  it('refuses negative, zero, unsafe, relative-word and malformed values as InvalidArgument', () => {
    for (const bad of ['-1', '0', '99999999999999999999', 'yesterday', 'now', '12abc', '2026-11-28T25:00:00Z', '1/2/2026', '']) {
      expect(isKukeError(thrown(() => parseLogPoint('--at', bad)), ErrorKind.InvalidArgument), bad).toBe(true);
    }
  });
});

describe('the error line', () => {
  it('says "bug" only for Internal, pointing at -v for a fault in kuke itself', () => {
    expect(errorLine(new Error('boom'))).toBe('Error: boom (this is a bug in kukeon; please report it; run the command again with -v to print the details)');
    for (const kind of Object.values(ErrorKind).filter((k) => k !== ErrorKind.Internal)) {
      expect(errorLine(new KukeError(kind, 'x', { hint: 'do y' }))).toBe('Error: x; do y');
    }
  });

  it("points an Internal fault raised in kukeond at the daemon's log, without guessing its path", () => {
    const metadata = new Metadata();
    metadata.set('kukeon-error-kind', 'Internal');
    const err = fromServiceError({ code: status.INTERNAL, details: 'boom', metadata }, '/run/kukeon/kukeond.sock');
    const line = errorLine(err);
    expect(line).toBe("Error: boom (this is a bug in kukeon; please report it; details in the daemon's log: sudo kuke daemon logs)");
    expect(line).not.toMatch(/\/opt\/kukeon/);
  });

  it('keeps a multi-line message on one line', () => {
    expect(errorLine(new KukeError(ErrorKind.InvalidArgument, 'first\nsecond', { hint: 'a\nb' }))).toBe('Error: first; second; a; b');
  });
});
