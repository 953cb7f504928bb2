import type { EventStore } from '@flotilla/event-store';
import type { Admin, Kafka } from 'kafkajs';
import type { Relay } from '@flotilla/messaging';
import { withinMs } from './time-bound';

/** One dependency's answer: reachable or not, and why not. */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly error?: string;
  readonly [detail: string]: unknown;
}

export interface ReadinessReport {
  readonly status: 'ready' | 'not_ready';
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

/** How long one probe may take before its dependency counts as unreachable. */
export const READINESS_PROBE_TIMEOUT_MS = 2000;

const withinTimeout = <T>(work: Promise<T>, what: string): Promise<T> => withinMs(work, READINESS_PROBE_TIMEOUT_MS, what);

const failed = (error: unknown): ReadinessCheck => ({ ok: false, error: error instanceof Error ? error.message : String(error) });

/**
 * Whether this process can do its work now (`GET /health/ready`), as against being alive
 * (`GET /health`): the event store answers a read, the broker (in Kafka mode) answers a metadata
 * request, and the relay (where this process runs one) is at most `maxRelayLag` events behind.
 * Each check says what failed, so an operator reading a 503 knows which dependency to look at.
 */
export class Readiness {
  private admin: Promise<Admin> | null = null;

  constructor(
    private readonly store: EventStore,
    /** A client that does not retry (`retries: 0`): a probe is one try, and the next probe is the retry. */
    private readonly kafka: Kafka | null,
    private readonly relay: Relay | null,
    private readonly maxRelayLag: number,
  ) {}

  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all([
      this.check('store', () => this.probeStore()),
      ...(this.kafka === null ? [] : [this.check('broker', () => this.probeBroker())]),
      ...(this.relay === null ? [] : [this.check('relay', () => this.probeRelay(this.relay as Relay))]),
    ]);
    const checks = Object.fromEntries(entries);
    return { status: entries.every(([, check]) => check.ok) ? 'ready' : 'not_ready', checks };
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.then((connected) => connected.disconnect()).catch(() => undefined);
  }

  private async check(name: string, probe: () => Promise<ReadinessCheck>): Promise<[string, ReadinessCheck]> {
    try {
      return [name, await probe()];
    } catch (error) {
      return [name, failed(error)];
    }
  }

  private async probeStore(): Promise<ReadinessCheck> {
    await withinTimeout(this.store.streamRevision('readiness-probe'), 'The event store');
    return { ok: true };
  }

  private async probeBroker(): Promise<ReadinessCheck> {
    try {
      const admin = await this.connectedAdmin();
      const cluster = await withinTimeout(admin.describeCluster(), 'The Kafka broker');
      return { ok: true, brokers: cluster.brokers.length };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { ok: false, error: reason.startsWith('The Kafka broker') ? reason : `The Kafka broker cannot be reached: ${reason}` };
    }
  }

  private async probeRelay(relay: Relay): Promise<ReadinessCheck> {
    const lag = await withinTimeout(relay.lag(this.maxRelayLag + 1), 'Counting the relay lag');
    const role = relay.isLeader ? 'leader' : 'standby';
    return lag > this.maxRelayLag
      ? { ok: false, role, lag, error: `The relay is more than ${this.maxRelayLag} events behind the store` }
      : { ok: true, role, lag };
  }

  /** One admin client, connected on the first probe; a failed connection is retried on the next. */
  private connectedAdmin(): Promise<Admin> {
    if (this.kafka === null) throw new Error('No broker in this mode');
    if (this.admin === null) {
      const admin = this.kafka.admin();
      this.admin = withinTimeout(
        admin.connect().then(() => admin),
        'The Kafka broker',
      );
      this.admin.catch(() => {
        this.admin = null;
        void admin.disconnect().catch(() => undefined);
      });
    }
    return this.admin;
  }
}
