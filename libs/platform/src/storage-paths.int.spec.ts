import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConfiguredEventStore, openStateDb, sqlitePathOf } from './storage-paths';

describe('the SQLite files STATE_DB and EVENT_STORE name', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-paths-'))));
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the file of a sqlite URL, and none of a server', () => {
    expect(sqlitePathOf('sqlite:/a/b.sqlite')).toBe('/a/b.sqlite');
    expect(sqlitePathOf('sqlite:///a/b.sqlite')).toBe('/a/b.sqlite');
    expect(sqlitePathOf('./events.sqlite')).toBe('./events.sqlite');
    expect(sqlitePathOf('esdb://x:2113?tls=false')).toBeNull();
  });

  it('makes the folders of paths outside DATA_DIR', async () => {
    const state = openStateDb(join(dir, 'state', 'nested', 'executor-state.sqlite'));
    const store = await openConfiguredEventStore(`sqlite:${join(dir, 'store', 'deep', 'events.sqlite')}`);
    try {
      expect(existsSync(join(dir, 'state', 'nested', 'executor-state.sqlite'))).toBe(true);
      expect(existsSync(join(dir, 'store', 'deep', 'events.sqlite'))).toBe(true);
    } finally {
      state.close();
      await store.close();
    }
  });

  it('stops with a message naming the variable and the path when a part of the path is a file', async () => {
    writeFileSync(join(dir, 'plain-file'), 'not a folder');
    const state = join(dir, 'plain-file', 'state.sqlite');
    expect(() => openStateDb(state)).toThrow(`STATE_DB: cannot use ${state}`);
    expect(() => openStateDb(state)).toThrow('a part of the path is a file, not a folder');
    const events = join(dir, 'plain-file', 'sub', 'events.sqlite');
    await expect(openConfiguredEventStore(`sqlite:${events}`)).rejects.toThrow(`EVENT_STORE: cannot use ${events}`);
  });

  // root may write anywhere, so the permission case exists only for another user (CI here runs as
  // root, and the Node it runs is not one another user may execute): declared only then, rather than
  // passing without an assertion.
  const itUnlessRoot = process.getuid?.() === 0 ? () => undefined : it;
  itUnlessRoot('stops with a message naming the path when the folder may not be written', async () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    try {
      expect(() => openStateDb(join(locked, 'state.sqlite'))).toThrow(`STATE_DB: cannot use ${join(locked, 'state.sqlite')}`);
      expect(() => openStateDb(join(locked, 'state.sqlite'))).toThrow('permission denied');
      await expect(openConfiguredEventStore(join(locked, 'more', 'events.sqlite'))).rejects.toThrow('EVENT_STORE: cannot use');
    } finally {
      chmodSync(locked, 0o755);
    }
  });

  it('names the path when the file itself cannot be opened (a folder where the file should be)', () => {
    const folder = join(dir, 'is-a-folder.sqlite');
    mkdirSync(folder);
    expect(() => openStateDb(folder)).toThrow(`STATE_DB: cannot open ${folder}`);
  });
});
