import { describe, expect, it } from 'vitest';
import { realmMachine } from '../../../machines/realm.js';
import { spaceMachine } from '../../../machines/space.js';
import { stackMachine } from '../../../machines/stack.js';
import { describeRejection } from '../../../machines/index.js';
import { accepts, run } from './helpers.js';

const realmReady = [{ type: 'CreateRealm', namespace: 'lab.kukeon.io', labels: {}, system: false }, { type: 'RealmProvisioned', cgroupPath: '/kukeon/lab' }];

describe('scope machines', () => {
  it('provisions a realm with its namespace and becomes Ready', () => {
    const { state, effects, snapshot } = run(realmMachine, { realm: 'lab' }, realmReady);
    expect(state).toBe('Ready');
    expect(effects).toEqual([{ type: 'provisionRealm', params: { realm: 'lab', attributes: { namespace: 'lab.kukeon.io' }, labels: {} } }]);
    expect(snapshot.context.cgroupPath).toBe('/kukeon/lab');
  });

  it('refuses to delete a realm that still has spaces', () => {
    expect(accepts(realmMachine, { realm: 'lab' }, realmReady, { type: 'DeleteRealm', children: 2, force: false })).toBe(false);
    expect(describeRejection('realm', 'realm "lab"', 'Ready', { type: 'DeleteRealm', children: 2 }).message).toBe('realm "lab" has 2 space(s)');
    expect(accepts(realmMachine, { realm: 'lab' }, realmReady, { type: 'DeleteRealm', children: 0, force: false })).toBe(true);
  });

  it('protects the system realm unless forced', () => {
    const system = [{ type: 'CreateRealm', namespace: 'kukeon-system.kukeon.io', labels: {}, system: true }, { type: 'RealmProvisioned', cgroupPath: '/kukeon/kukeon-system' }];
    expect(accepts(realmMachine, { realm: 'kukeon-system' }, system, { type: 'DeleteRealm', children: 0, force: false })).toBe(false);
    expect(accepts(realmMachine, { realm: 'kukeon-system' }, system, { type: 'DeleteRealm', children: 0, force: true })).toBe(true);
  });

  it('retries provisioning after a failure', () => {
    const failed = [{ type: 'CreateSpace', network: { name: 'r-s', bridge: 'k-00000000', subnet: '10.88.0.0/24', ipMasq: false }, labels: {} }, { type: 'EffectFailed', effect: 'provisionSpace', error: { kind: 'Internal', message: 'x' } }];
    expect(run(spaceMachine, { realm: 'r', space: 's' }, failed).state).toBe('Failed');
    const { effects } = run(spaceMachine, { realm: 'r', space: 's' }, [...failed, { type: 'CreateSpace', network: { name: 'r-s', bridge: 'k-00000000', subnet: '10.88.0.0/24', ipMasq: false }, labels: {} }]);
    expect(effects.filter((e) => e.type === 'provisionSpace')).toHaveLength(2);
  });

  it('starts a new life after deletion', () => {
    const events = [{ type: 'CreateStack', labels: { a: 'b' } }, { type: 'StackProvisioned', cgroupPath: '/k/r/s/t' }, { type: 'DeleteStack', children: 0 }, { type: 'StackDeprovisioned' }];
    expect(run(stackMachine, { realm: 'r', space: 's', stack: 't' }, events).state).toBe('Deleted');
    const { state, snapshot } = run(stackMachine, { realm: 'r', space: 's', stack: 't' }, [...events, { type: 'CreateStack', labels: {} }]);
    expect(state).toBe('Creating');
    expect(snapshot.context.labels).toEqual({});
  });
});
