/**
 * Ownership of host objects between installs: the install id kept in the CNI conf dir, the mark on bridges, and the
 * decisions made from it before a bridge is joined or deleted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { INSTANCE_ID } from '../../../src/model/names.js';
import { bridgeDeletion, bridgeMark, bridgeOwner, INSTANCE_FILE, parseBridgeMark, readOrCreateInstanceId } from '../../../src/runtime/cni/ownership.js';

const US = '3fa94c1e0b7d2a65';
const THEM = '0123456789abcdef';
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'kukeon-own-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the install id', () => {
  it('is made once (16 hex digits) and read back the same by every later reader', () => {
    const dir = tempDir();
    const first = readOrCreateInstanceId(dir);
    expect(first).toMatch(INSTANCE_ID);
    expect(readOrCreateInstanceId(dir)).toBe(first);
    expect(readFileSync(join(dir, INSTANCE_FILE), 'utf8').trim()).toBe(first);
    expect(readOrCreateInstanceId(tempDir())).not.toBe(first);
  });

  it('refuses a damaged id file as DataLoss rather than making a new identity', () => {
    const dir = tempDir();
    writeFileSync(join(dir, INSTANCE_FILE), 'not-an-id\n');
    let error: unknown;
    try {
      readOrCreateInstanceId(dir);
    } catch (err) {
      error = err;
    }
    expect(isKukeError(error, 'DataLoss')).toBe(true);
  });
});

describe('bridge marks', () => {
  it('reads back what it writes, and nothing else', () => {
    expect(parseBridgeMark(bridgeMark(US, 'default.default.3fa94c1e'))).toEqual({ instance: US, network: 'default.default.3fa94c1e' });
    expect(parseBridgeMark('')).toBeUndefined();
    expect(parseBridgeMark('uplink to the lab')).toBeUndefined();
    expect(parseBridgeMark('kukeon instance=xyz network=n')).toBeUndefined();
  });

  const net = 'default.default.3fa94c1e';
  it.each([
    ['our mark', { alias: bridgeMark(US, net), ports: ['veth1'] }, 'ours', { delete: true }],
    ['our mark, no ports', { alias: `${bridgeMark(US, net)}\n`, ports: [] }, 'ours', { delete: true }],
    ['no mark and nothing plugged in (made before marks)', { alias: '', ports: [] }, 'unmarked', { delete: true }],
    ['no mark, ports plugged in', { alias: '', ports: ['veth9', 'vethA'] }, 'unmarked', { delete: false }],
    ['another install', { alias: bridgeMark(THEM, net), ports: [] }, { other: bridgeMark(THEM, net) }, { delete: false }],
    ['our install, another network (a hash collision)', { alias: bridgeMark(US, 'lab.web.3fa94c1e'), ports: [] }, { other: bridgeMark(US, 'lab.web.3fa94c1e') }, { delete: false }],
    ['an alias someone else set', { alias: 'uplink', ports: [] }, { other: 'uplink' }, { delete: false }],
  ])('%s: owner %j, deletion %j', (_what, link, owner, deletion) => {
    expect(bridgeOwner(link, US, net)).toEqual(owner);
    const verdict = bridgeDeletion(link, US, net);
    expect(verdict).toMatchObject(deletion);
    if (!verdict.delete) expect(verdict.reason.length).toBeGreaterThan(0);
  });
});
