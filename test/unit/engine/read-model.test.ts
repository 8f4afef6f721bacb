import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { catalogCodec } from '../../../src/engine/codec.js';
import { openEngine } from '../../../src/engine/index.js';
import { ReadModelWriter } from '../../../src/engine/read-model.js';
import { FakeWorld } from '../../../src/runtime/fake/fake-runtime.js';
import { CONFIG, user } from '../../support/fake-engine.js';
import { MemoryStore } from '../../support/memory-store.js';
import { waitFor } from '../../support/wait.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

describe('the on-disk read model', () => {
  it('keeps what it could not write (a full disk) and writes it on its own once it can, without waiting for an event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kukeon-model-'));
    dirs.push(dir);
    const writer = new ReadModelWriter(join(dir, 'model'), undefined, { retryMs: 20 });
    const world = new FakeWorld();
    const opened = await openEngine({ store: new MemoryStore(catalogCodec), runtime: world.runtime(), config: CONFIG, onApplied: writer.onApplied });
    writer.attach(opened.engine);
    // A file where the realms' directory goes makes every realm document fail to write, as ENOSPC would.
    writeFileSync(join(dir, 'model', 'realms'), '');
    await opened.operations.createRealm({ name: 'lab' }, user);
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(dir, 'model', 'realms', 'lab.json'))).toBe(false);
    rmSync(join(dir, 'model', 'realms'));
    await waitFor(() => existsSync(join(dir, 'model', 'realms', 'lab.json')), Boolean, { timeoutMs: 2_000, what: 'the realm document' });
    await opened.close({ graceMs: 100 });
  });
});
