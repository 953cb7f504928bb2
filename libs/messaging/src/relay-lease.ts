import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { WrongExpectedRevisionError, streamName, type EventStore, type GlobalPosition } from '@flotilla/event-store';

/** The one event of a lease stream: who holds it, until when, and how far it had published. */
export const RELAY_LEASE_HELD = 'RelayLeaseHeld';

interface LeaseData {
  readonly holder: string;
  /** Epoch milliseconds; `0` when the holder let it go on a clean shutdown. */
  readonly until: number;
  /** The last store position published to Kafka, as a decimal string; null before anything was. */
  readonly publishedUpTo: string | null;
}

/** The lease as last read: its stream revision is what the next append must expect. */
export interface LeaseView {
  readonly holder: string;
  readonly until: number;
  readonly publishedUpTo: GlobalPosition | null;
  readonly revision: number;
}

export interface RelayLeaseOptions {
  /** How long a lease lasts without renewal; the standby takes over this long after the holder dies. */
  readonly ttlMs?: number;
  readonly now?: () => number;
  /** This process's name in the lease; unique per process start by default. */
  readonly holder?: string;
}

export const RELAY_LEASE_TTL_MS = 10_000;

export const relayLeaseStream = (topic: string): string => streamName('relaylease', topic);

/**
 * Who may publish the store to a topic: a lease on a stream of the event store itself, so it needs
 * nothing the deployment does not already share (SQLite, PostgreSQL and EventStoreDB alike), and
 * its optimistic concurrency is the arbiter: taking or renewing the lease is an append that
 * expects the revision last read, so of two relays racing for it exactly one wins.
 *
 * The lease also carries the holder's published position, so a standby on another host, whose own
 * checkpoint is as old as its last turn, resumes where the holder was rather than at its own
 * checkpoint (at worst it republishes what the holder sent since its last renewal: consumers
 * deduplicate by event id).
 *
 * Holders renew every third of the TTL; clocks across hosts must agree to well within that.
 */
export class RelayLease {
  readonly holder: string;
  readonly ttlMs: number;
  private readonly stream: string;
  private readonly now: () => number;
  private held: LeaseView | null = null;
  private lastSeen: LeaseView | null = null;

  constructor(
    private readonly store: EventStore,
    topic: string,
    options: RelayLeaseOptions = {},
  ) {
    this.stream = relayLeaseStream(topic);
    this.ttlMs = options.ttlMs ?? RELAY_LEASE_TTL_MS;
    this.now = options.now ?? Date.now;
    this.holder = options.holder ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  }

  /** True while this process holds an unexpired lease: the only time it may publish. */
  get isHeld(): boolean {
    return this.held !== null && this.held.until > this.now();
  }

  /** The furthest published position any holder recorded, as last read. */
  get publishedUpTo(): GlobalPosition | null {
    return this.lastSeen?.publishedUpTo ?? null;
  }

  /** The last lease event, or undefined before any relay took one. */
  async read(): Promise<LeaseView | undefined> {
    for await (const event of this.store.readStream(this.stream, { direction: 'backwards', maxCount: 1 })) {
      const data = event.data as LeaseData;
      const view = {
        holder: data.holder,
        until: data.until,
        publishedUpTo: data.publishedUpTo === null ? null : BigInt(data.publishedUpTo),
        revision: event.revision,
      };
      this.lastSeen = view;
      return view;
    }
    return undefined;
  }

  /**
   * Takes the lease when nobody holds it (none yet, expired, or let go), or renews it when this
   * process holds it. False when another relay holds it or won the race.
   */
  async acquireOrRenew(publishedUpTo: GlobalPosition | null): Promise<boolean> {
    const current = await this.read();
    const mine = current !== undefined && current.holder === this.holder && this.held?.revision === current.revision;
    if (current !== undefined && !mine && current.until > this.now()) {
      this.held = null;
      return false;
    }
    return this.write(current?.revision ?? 'no_stream', this.now() + this.ttlMs, newest(publishedUpTo, current?.publishedUpTo ?? null));
  }

  /** Lets the lease go at once (a clean shutdown), so the standby need not wait for it to expire. */
  async release(publishedUpTo: GlobalPosition | null): Promise<void> {
    const held = this.held;
    if (held === null) return;
    await this.write(held.revision, 0, newest(publishedUpTo, held.publishedUpTo));
    this.held = null;
  }

  private async write(expectedRevision: number | 'no_stream', until: number, publishedUpTo: GlobalPosition | null): Promise<boolean> {
    const data: LeaseData = { holder: this.holder, until, publishedUpTo: publishedUpTo === null ? null : publishedUpTo.toString() };
    try {
      const appended = await this.store.appendToStream(this.stream, [{ type: RELAY_LEASE_HELD, data, metadata: { actor: 'relay' } }], {
        expectedRevision,
      });
      const view = { holder: this.holder, until, publishedUpTo, revision: appended.nextExpectedRevision };
      this.held = until > 0 ? view : null;
      this.lastSeen = view;
      return until > 0;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      this.held = null;
      return false;
    }
  }
}

const newest = (a: GlobalPosition | null, b: GlobalPosition | null): GlobalPosition | null =>
  a === null ? b : b === null ? a : a > b ? a : b;
