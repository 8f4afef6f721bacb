import { describe, expect, it } from 'vitest';
import { isKukeError } from '../../../src/errors.js';
import { cellLogDir, containerLogFile } from '../../../src/runtime/logs/paths.js';
import { thrown } from '../../support/thrown.js';

const root = '/opt/kukeon/logs';
const cell = { realm: 'default', space: 'default', stack: 'default', cell: 'web' };

describe('container log paths', () => {
  it('put a cell four levels below the logs root, and its containers in it', () => {
    expect(cellLogDir(root, cell)).toBe('/opt/kukeon/logs/default/default/default/web');
    expect(containerLogFile(root, cell, 'web_root')).toBe('/opt/kukeon/logs/default/default/default/web/web_root.log');
    expect(containerLogFile(root, cell, 'side')).toBe('/opt/kukeon/logs/default/default/default/web/side.log');
  });

  it.each([
    ['a parent reference', { ...cell, cell: '..' }],
    ['a nested path', { ...cell, stack: 'a/b' }],
    ['an absolute name', { ...cell, realm: '/etc' }],
    ['an empty name', { ...cell, space: '' }],
    ['a dot', { ...cell, cell: '.' }],
    ['upper case', { ...cell, cell: 'Web' }],
  ])('refuse %s as InvalidArgument, so no path outside the cell can be built', (_what, bad) => {
    expect(isKukeError(thrown(() => cellLogDir(root, bad)), 'InvalidArgument')).toBe(true);
  });

  it('refuse a container name that is neither a name nor a root container name', () => {
    expect(isKukeError(thrown(() => containerLogFile(root, cell, '../x')), 'InvalidArgument')).toBe(true);
    expect(isKukeError(thrown(() => containerLogFile(root, cell, '_root')), 'InvalidArgument')).toBe(true);
  });
});
