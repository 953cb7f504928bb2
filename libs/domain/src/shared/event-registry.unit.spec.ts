import { EventRegistry } from './event-registry';

type Renamed = { readonly type: 'Renamed'; readonly data: { readonly name: string; readonly tags: readonly string[] } };
type Pinged = { readonly type: 'Pinged'; readonly data: { readonly at: string } };

/** v1 had `title`; v2 renamed it `name`; v3 added `tags`. */
const registry = new EventRegistry<Renamed | Pinged>({
  Renamed: {
    schemaVersion: 3,
    upcasters: {
      1: (data) => {
        const { title, ...rest } = data as { title: string };
        return { ...rest, name: title };
      },
      2: (data) => ({ ...(data as object), tags: [] }),
    },
  },
  Pinged: { schemaVersion: 1 },
});

describe('EventRegistry', () => {
  it('upcasts from the version an event was written with to the current one', () => {
    expect(registry.read({ type: 'Renamed', data: { title: 'a' } })).toEqual({ type: 'Renamed', data: { name: 'a', tags: [] } });
    expect(registry.read({ type: 'Renamed', data: { title: 'a' }, metadata: { schemaVersion: 1 } })).toEqual({
      type: 'Renamed',
      data: { name: 'a', tags: [] },
    });
    expect(registry.read({ type: 'Renamed', data: { name: 'b' }, metadata: { schemaVersion: 2 } })).toEqual({
      type: 'Renamed',
      data: { name: 'b', tags: [] },
    });
    expect(registry.read({ type: 'Renamed', data: { name: 'c', tags: ['x'] }, metadata: { schemaVersion: 3 } })).toEqual({
      type: 'Renamed',
      data: { name: 'c', tags: ['x'] },
    });
  });

  it('knows its types and their versions, and reads unknown types as null', () => {
    expect(registry.types).toEqual(['Renamed', 'Pinged']);
    expect(registry.has('Pinged')).toBe(true);
    expect(registry.has('Other')).toBe(false);
    expect(registry.schemaVersionOf('Renamed')).toBe(3);
    expect(registry.read({ type: 'Other', data: {} })).toBeNull();
  });

  it('refuses an event written by a newer schema than it knows, and a registry with a missing upcaster', () => {
    expect(() => registry.read({ type: 'Pinged', data: {}, metadata: { schemaVersion: 2 } })).toThrow(/schema version 2/);
    expect(() => new EventRegistry<Pinged>({ Pinged: { schemaVersion: 2 } })).toThrow(/no upcaster from schema version 1/);
  });

  it('a subset reads only its own types, with the same upcasters', () => {
    const renames = registry.subset('Renamed');
    expect(renames.types).toEqual(['Renamed']);
    expect(renames.read({ type: 'Pinged', data: { at: 'x' } })).toBeNull();
    expect(renames.read({ type: 'Renamed', data: { title: 'd' } })).toEqual({ type: 'Renamed', data: { name: 'd', tags: [] } });
  });

  it('publishes data without its store-only fields, and the very same data for types that have none', () => {
    const guarded = new EventRegistry<Pinged>({ Pinged: { schemaVersion: 1, storeOnly: ['secret'] } });
    const data = { at: 'x', secret: { ct: 'sealed' } };
    expect(guarded.publishable('Pinged', data)).toEqual({ at: 'x' });
    expect(data).toEqual({ at: 'x', secret: { ct: 'sealed' } });
    const plain = { at: 'y' };
    expect(registry.publishable('Pinged', plain)).toBe(plain);
    expect(guarded.with(new EventRegistry<Renamed>({ Renamed: { schemaVersion: 1 } })).publishable('Pinged', data)).toEqual({ at: 'x' });
  });
});
