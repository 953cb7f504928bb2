import { CommandHandler, SharedLoads, newId } from '@flotilla/application';
import {
  DEFAULT_TEAM,
  WebhookNotFound,
  decideWebhookRegistry,
  teamOfMetadata,
  evolveWebhookRegistry,
  initialWebhookRegistry,
  webhookEvents,
  webhookOf,
  type RegisterWebhook,
  type Webhook,
  type WebhookCommand,
  type WebhookEvent,
  type WebhookRegistryState,
  type WebhookRegistered,
} from '@flotilla/domain';
import { type EventStore, type GlobalPosition } from '@flotilla/event-store';
import type { SecretBox } from '@flotilla/platform';
import { EXTEND_SIGNATURE_HEADER, EXTEND_TIMESTAMP_HEADER, SIGNATURE_HEADER, signExtendPayload, signPayload } from './signature';
import { WEBHOOK_REGISTRY_STREAM } from './webhook-streams';

/** A registration as callers make it: the registry gives the webhook its id. */
export type WebhookRegistration = Omit<RegisterWebhook, 'type' | 'webhookId' | 'sealedSecret'>;

/**
 * The registered webhooks, on the one registry stream. Registrations are decided through the command
 * handler (one id, one registration). Reads keep what they have read and, before every read, read
 * only the events after the last revision seen, so registrations made by another process (the API
 * registers, the notifier delivers) are seen on the next call.
 *
 * Secrets are held here and nowhere else: reads return webhooks without them, and the notifier
 * asks the registry to sign instead of asking for the secret. They are recorded sealed by the box
 * (AES-256-GCM) and opened only to sign.
 */
export class WebhookRegistry {
  private readonly webhooks = new Map<string, Webhook>();
  private readonly secrets = new Map<string, WebhookRegistered['data']['secret']>();
  /** The team of the key that registered each webhook (`default` before teams). */
  private readonly teams = new Map<string, string>();
  private revision = -1;
  private readonly handler: CommandHandler<WebhookRegistryState, WebhookCommand, WebhookEvent>;
  /**
   * Catch-ups are shared between concurrent readers, but a reader only joins one that has not
   * started yet: joining one already under way could miss an append the reader made just before
   * (read-your-writes after `register`).
   */
  private readonly catchUps = new SharedLoads<void>(() => this.readNewEvents());

  constructor(
    private readonly store: EventStore,
    private readonly box: SecretBox,
  ) {
    this.handler = new CommandHandler(
      store,
      { decide: decideWebhookRegistry, evolve: evolveWebhookRegistry, initialState: initialWebhookRegistry, events: webhookEvents },
      { streamOf: () => WEBHOOK_REGISTRY_STREAM, maxCachedStates: 1 },
    );
  }

  /** Decides the registration (`RuleViolation` naming the fields) and returns the webhook, without its secret. */
  async register(registration: WebhookRegistration, team?: string): Promise<{ webhook: Webhook; position: GlobalPosition }> {
    const webhookId = newId('whk', registration.now.getTime());
    const { events, position } = await this.handler.handle(
      'registry',
      { type: 'RegisterWebhook', webhookId, ...registration, sealedSecret: this.box.seal(registration.secret) },
      team === undefined ? { actor: registration.actor } : { actor: registration.actor, team },
    );
    const [registered] = events;
    if (registered === undefined || position === null) throw new Error(`Webhook ${webhookId} was not recorded`);
    return { webhook: webhookOf(registered), position };
  }

  /** Every webhook, oldest first. */
  async list(): Promise<Webhook[]> {
    await this.catchUps.load('registry');
    return [...this.webhooks.values()];
  }

  /** Throws `WebhookNotFound` for an unknown id. */
  async get(webhookId: string): Promise<Webhook> {
    await this.catchUps.load('registry');
    const webhook = this.webhooks.get(webhookId);
    if (webhook === undefined) throw new WebhookNotFound(webhookId);
    return webhook;
  }

  /** The team a webhook belongs to; `WebhookNotFound` for an unknown id. */
  async teamOf(webhookId: string): Promise<string> {
    return this.teamOfListed(await this.get(webhookId));
  }

  /** The team of a webhook this registry returned (no catch-up: `list` or `get` just made one). */
  teamOfListed(webhook: Webhook): string {
    return this.teams.get(webhook.id) ?? DEFAULT_TEAM;
  }

  /** The `X-Signature` header for `body` sent to a webhook returned by this registry. */
  sign(webhookId: string, timestamp: number, body: string): string {
    return signPayload(this.secretOf(webhookId), timestamp, body);
  }

  /** The signature headers of the webhook's format for `body` sent at `timestamp` (unix seconds). */
  signatureHeaders(webhook: Webhook, timestamp: number, body: string): Record<string, string> {
    const secret = this.secretOf(webhook.id);
    return webhook.format === 'extend'
      ? { [EXTEND_TIMESTAMP_HEADER]: String(timestamp), [EXTEND_SIGNATURE_HEADER]: signExtendPayload(secret, timestamp, body) }
      : { [SIGNATURE_HEADER]: signPayload(secret, timestamp, body) };
  }

  private secretOf(webhookId: string): string {
    const stored = this.secrets.get(webhookId);
    if (stored === undefined) throw new WebhookNotFound(webhookId);
    return this.box.open(stored);
  }

  private async readNewEvents(): Promise<void> {
    // The notifier asks once per event it handles, and nearly always nothing is new: the stream's
    // revision (one key lookup) says so more cheaply than a read of the stream that finds nothing.
    const revision = await this.store.streamRevision(WEBHOOK_REGISTRY_STREAM);
    if ((revision ?? -1) === this.revision) return;
    for await (const stored of this.store.readStream(WEBHOOK_REGISTRY_STREAM, { fromRevision: this.revision + 1 })) {
      const event = webhookEvents.read(stored);
      if (event !== null) {
        this.webhooks.set(event.data.webhookId, webhookOf(event));
        this.secrets.set(event.data.webhookId, event.data.secret);
        this.teams.set(event.data.webhookId, teamOfMetadata(stored.metadata));
      }
      // Each event is folded and counted together, so a read cut short leaves a consistent cache.
      this.revision = stored.revision;
    }
  }
}
