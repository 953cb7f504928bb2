import { newId } from '@flotilla/application';
import { type EventStore, type GlobalPosition } from '@flotilla/event-store';
import { signPayload } from './signature';
import { WEBHOOK_REGISTRY_STREAM, WebhookNotFound, decideRegistration, webhookOf, type RegisterWebhook, type Webhook, type WebhookRegistered } from './webhook';

/**
 * The registered webhooks, read from the one registry stream. Each instance keeps what it has read
 * and, before every read, reads only the events after the last revision it saw; so registrations
 * made by another process (the API registers, the notifier delivers) are seen on the next call.
 *
 * Secrets are held here and nowhere else: reads return webhooks without them, and the notifier
 * asks the registry to sign instead of asking for the secret.
 */
export class WebhookRegistry {
  private readonly webhooks = new Map<string, Webhook>();
  private readonly secrets = new Map<string, string>();
  private revision = -1;
  /** Catch-ups run one after another; `queued` is the next one, not started yet, which new callers join. */
  private running: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;

  constructor(private readonly store: EventStore) {}

  /** Appends the registration (validated: `RuleViolation` naming the fields) and returns the webhook, without its secret. */
  async register(input: RegisterWebhook): Promise<{ webhook: Webhook; position: GlobalPosition }> {
    const event = decideRegistration(input, newId('whk', input.now.getTime()));
    // Registrations never conflict with one another (each has a fresh id), so no expected revision.
    const result = await this.store.appendToStream(WEBHOOK_REGISTRY_STREAM, [{ type: event.type, data: event.data, metadata: { actor: input.actor } }]);
    return { webhook: webhookOf(event), position: result.position };
  }

  /** Every webhook, oldest first. */
  async list(): Promise<Webhook[]> {
    await this.catchUp();
    return [...this.webhooks.values()];
  }

  /** Throws `WebhookNotFound` for an unknown id. */
  async get(webhookId: string): Promise<Webhook> {
    await this.catchUp();
    const webhook = this.webhooks.get(webhookId);
    if (webhook === undefined) throw new WebhookNotFound(webhookId);
    return webhook;
  }

  /** The `X-Signature` header for `body` sent to a webhook returned by this registry. */
  sign(webhookId: string, timestamp: number, body: string): string {
    const secret = this.secrets.get(webhookId);
    if (secret === undefined) throw new WebhookNotFound(webhookId);
    return signPayload(secret, timestamp, body);
  }

  /**
   * Joining a catch-up that has already started could miss an append the caller made just before
   * calling (read-your-writes after `register`); joining one that has not started yet cannot.
   */
  private catchUp(): Promise<void> {
    if (this.queued !== null) return this.queued;
    const next = this.running.then(() => {
      this.queued = null;
      return this.readNewEvents();
    });
    this.queued = next;
    this.running = next.catch(() => undefined);
    return next;
  }

  private async readNewEvents(): Promise<void> {
    for await (const event of this.store.readStream(WEBHOOK_REGISTRY_STREAM, { fromRevision: this.revision + 1 })) {
      if (event.type === 'WebhookRegistered') {
        const registered = { type: event.type, data: event.data } as WebhookRegistered;
        this.webhooks.set(registered.data.webhookId, webhookOf(registered));
        this.secrets.set(registered.data.webhookId, registered.data.secret);
      }
      // Each event is folded and counted together, so a read cut short leaves a consistent cache.
      this.revision = event.revision;
    }
  }
}
