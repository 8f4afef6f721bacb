import { describe, expect, it } from 'vitest';
import { checkPayload, currentVersion, EVENT_CATALOG, upcastPayload } from '../../../events/catalog.js';
import { AGGREGATES } from '../../../machines/index.js';

describe('event catalogue', () => {
  it('replays a v1 TaskExited through the v2 schema', () => {
    const v1 = { pid: 12, exitCode: 137 };
    expect(checkPayload('TaskExited', 1, v1).ok).toBe(true);
    const { v, data } = upcastPayload('TaskExited', 1, v1);
    expect(v).toBe(2);
    expect(data).toEqual({ pid: 12, code: 137, signal: 'SIGKILL' });
    expect(checkPayload('TaskExited', 2, data).ok).toBe(true);
  });

  it('replays a v1 DeleteCell as a delete that removes the logs (v1 left them behind by oversight)', () => {
    expect(upcastPayload('DeleteCell', 1, {})).toEqual({ v: 2, data: { keepLogs: false } });
    expect(checkPayload('DeleteCell', 2, { keepLogs: true }).ok).toBe(true);
    expect(checkPayload('DeleteCell', 2, {}).ok).toBe(false);
  });

  it('rejects a payload that does not match its schema, naming the field', () => {
    const result = checkPayload('TaskStarted', 1, { pid: -1 });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/^TaskStarted v1: pid:/);
  });

  it('rejects unknown types and versions', () => {
    expect(checkPayload('Nope', 1, {}).ok).toBe(false);
    expect(checkPayload('TaskExited', 3, {}).ok).toBe(false);
  });

  it('has an upcaster for every superseded version', () => {
    for (const [type, def] of Object.entries(EVENT_CATALOG)) {
      expect(def.upcasters.length, type).toBe(def.versions.length - 1);
      expect(currentVersion(type)).toBe(def.versions.length);
    }
  });

  it('knows every event type that a machine handles', () => {
    for (const def of Object.values(AGGREGATES)) {
      const events = new Set<string>();
      const walk = (node: { on?: Record<string, unknown>; states?: Record<string, unknown> }) => {
        for (const type of Object.keys(node.on ?? {})) events.add(type);
        for (const child of Object.values(node.states ?? {})) walk(child as typeof node);
      };
      walk(def.machine.config as never);
      for (const type of events) expect(EVENT_CATALOG[type], `${def.kind} handles ${type}`).toBeDefined();
    }
  });
});
