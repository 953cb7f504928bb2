import { Inject, Injectable, NotFoundException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { WrongExpectedRevisionError, type EventStore, type StoredEvent, type Subscription } from '@flotilla/event-store';
import { newId } from '@flotilla/application';
import { EVENT_STORE } from '../adapters';
import { KEYS_CATEGORY, generateKey, hashKey, keyStream, type KeyCreated, type KeyEvent, type Principal, type Role } from './keys';

/** A key as the registry knows it: never the key itself, only its hash. */
export type KeyRecord = Omit<KeyCreated['data'], 'actor'> & { readonly revokedAt?: string };

export interface CreatedKey {
  readonly record: KeyRecord;
  /** The key itself, to be shown once. */
  readonly key: string;
}

/**
 * The keys of the deployment, kept current from the event store by a subscription to the `keys-`
 * streams: a key created or revoked through any process reaches this one as soon as its store
 * delivers the event (at once in the embedded process, within the store's poll or push otherwise).
 * Keys are few, so the read model is a map in memory, rebuilt from the store at every start; the
 * service starts serving only once it has caught up.
 */
@Injectable()
export class KeyRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly byId = new Map<string, KeyRecord>();
  private readonly byHash = new Map<string, KeyRecord>();
  private subscription: Subscription | null = null;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async onModuleInit(): Promise<void> {
    this.subscription = this.store.subscribeToAll(
      { after: 'start', filter: { streamPrefixes: [`${KEYS_CATEGORY}-`] } },
      { onEvents: (events) => events.forEach((event) => this.apply(event)) },
    );
    await this.subscription.caughtUp;
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  /** The principal of a live key, or undefined for an unknown or revoked one. */
  authenticate(key: string): Principal | undefined {
    const record = this.byHash.get(hashKey(key));
    if (record === undefined || record.revokedAt !== undefined) return undefined;
    return { keyId: record.id, team: record.team, role: record.role, name: record.name };
  }

  /** Every key ever created, revoked ones included, oldest first. */
  list(): KeyRecord[] {
    return [...this.byId.values()];
  }

  /** Whether any key was ever created (revoked ones count: the first-start key is made once). */
  isEmpty(): boolean {
    return this.byId.size === 0;
  }

  /**
   * Creates a key and waits until this registry has it, so that it authenticates at once.
   * `id` is for the first-start admin key, whose fixed id makes two processes starting together
   * create it once: the second one's append is refused and it answers undefined.
   */
  async create(
    input: { team: string; role: Role; name: string; actor: string; now: Date },
    id = newId('key', input.now.getTime()),
  ): Promise<CreatedKey | undefined> {
    const key = generateKey();
    const event: KeyCreated = {
      type: 'KeyCreated',
      data: {
        id,
        team: input.team,
        role: input.role,
        name: input.name,
        hash: hashKey(key),
        createdAt: input.now.toISOString(),
        actor: input.actor,
      },
    };
    try {
      await this.store.appendToStream(keyStream(id), [{ ...event, metadata: { actor: input.actor } }], { expectedRevision: 'no_stream' });
    } catch (error) {
      if (error instanceof WrongExpectedRevisionError) return undefined;
      throw error;
    }
    // The subscription applies it too; applying it here makes the key usable before this call returns.
    this.applyKeyEvent(event);
    return { key, record: this.byId.get(id) as KeyRecord };
  }

  /** Revokes a key (again changes nothing) and answers it as revoked; 404 for an id no key has. */
  async revoke(id: string, actor: string, now: Date): Promise<KeyRecord> {
    const record = this.byId.get(id);
    if (record === undefined) throw new NotFoundException(`No key has the id ${id}`);
    if (record.revokedAt !== undefined) return record;
    const event: KeyEvent = { type: 'KeyRevoked', data: { id, revokedAt: now.toISOString(), actor } };
    await this.store.appendToStream(keyStream(id), [{ ...event, metadata: { actor } }], { expectedRevision: 'stream_exists' });
    this.applyKeyEvent(event);
    return this.byId.get(id) as KeyRecord;
  }

  private apply(event: StoredEvent): void {
    if (event.type === 'KeyCreated' || event.type === 'KeyRevoked') this.applyKeyEvent(event as unknown as KeyEvent);
  }

  private applyKeyEvent(event: KeyEvent): void {
    switch (event.type) {
      case 'KeyCreated': {
        if (this.byId.has(event.data.id)) return;
        const { actor: _actor, ...record } = event.data;
        this.byId.set(record.id, record);
        this.byHash.set(record.hash, record);
        return;
      }
      case 'KeyRevoked': {
        const record = this.byId.get(event.data.id);
        if (record === undefined || record.revokedAt !== undefined) return;
        const revoked = { ...record, revokedAt: event.data.revokedAt };
        this.byId.set(revoked.id, revoked);
        this.byHash.set(revoked.hash, revoked);
        return;
      }
    }
  }
}
