import { PlatformProcess, TargetServer, freePort, startWebhookReceiver, tempDir } from './e2e-harness';

/** A workflow to register, without its target: the fixture's target is filled in (`target` adds to it). */
export interface FixtureWorkflow {
  readonly id: string;
  readonly target?: Readonly<Record<string, unknown>>;
  readonly [field: string]: unknown;
}

export interface ProductFixtureOptions {
  /** Names the data directory, so a failed run's leftovers say which spec they are from. */
  readonly name: string;
  /** The product's environment, e.g. `EXECUTOR_CONCURRENCY`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Registered in order; by default one workflow `w` with one input `n`. */
  readonly workflows?: readonly FixtureWorkflow[];
  /** With these, a webhook receiver on loopback is started and subscribed to them. */
  readonly webhookEvents?: readonly string[];
}

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** The secret the fixture's webhook is registered with, for specs that check signatures. */
export const FIXTURE_WEBHOOK_SECRET = 'receiver-secret-0123456789';

/**
 * The setup most end-to-end specs share: a fresh data directory, a recording target on loopback,
 * the real product process on it, its workflows registered, and optionally a webhook receiver, with
 * the reads the specs make of a batch. Registration failures throw, so a broken setup fails the
 * spec at once instead of in its first assertion.
 */
export class ProductFixture {
  private constructor(
    /** Replaced by `restart`. */
    public app: PlatformProcess,
    readonly target: TargetServer,
    readonly receiver: Receiver | null,
    private readonly data: ReturnType<typeof tempDir>,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  /** Where the product keeps its files (events.sqlite, the state database). */
  get dataDir(): string {
    return this.data.path;
  }

  /** `target` is started before the product, so a spec may set `respond` on it afterwards or before its calls. */
  static async start(options: ProductFixtureOptions): Promise<ProductFixture> {
    const data = tempDir(`flotilla-${options.name}-e2e-`);
    const target = new TargetServer();
    await target.start();
    const receiver = options.webhookEvents === undefined ? null : await startWebhookReceiver();
    const env = options.env ?? {};
    const app = new PlatformProcess(await freePort(), data.path, { ...env });
    await app.start();
    const fixture = new ProductFixture(app, target, receiver, data, env);
    for (const workflow of options.workflows ?? [{ id: 'w' }])
      await fixture.expectStatus(201, 'POST', '/v1/workflows', {
        name: workflow.id,
        inputs: [{ name: 'n' }],
        ...workflow,
        target: { url: target.url, ...workflow.target },
      });
    if (receiver !== null)
      await fixture.expectStatus(201, 'POST', '/v1/webhooks', {
        url: receiver.url,
        events: options.webhookEvents,
        secret: FIXTURE_WEBHOOK_SECRET,
      });
    return fixture;
  }

  /** Items `{ inputs: { n: "0" } }`, `{ inputs: { n: "1" } }`, …, as the default workflow takes them. */
  static items(total: number): { inputs: { n: string } }[] {
    return Array.from({ length: total }, (_, i) => ({ inputs: { n: String(i) } }));
  }

  /** Creates a batch of workflow `w` named `b` (the body overrides either) and answers its id. */
  async createBatch(body: Readonly<Record<string, unknown>>): Promise<string> {
    const created = await this.expectStatus<{ id: string }>(201, 'POST', '/v1/batches', { name: 'b', workflowId: 'w', ...body });
    return created.id;
  }

  batch<T>(id: string): Promise<T> {
    return this.read<T>(`/v1/batches/${id}`);
  }

  async history<T>(id: string): Promise<T[]> {
    return (await this.read<{ items: T[] }>(`/v1/batches/${id}/history?limit=1000`)).items;
  }

  async executions<T>(id: string): Promise<T[]> {
    return (await this.read<{ items: T[] }>(`/v1/batches/${id}/executions?limit=1000`)).items;
  }

  /** Calls the target received for a batch (their idempotency keys are `<batchId>.<index>`). */
  callsOf(batchId: string): number {
    return this.target.calls.filter((call) => call.key.startsWith(`${batchId}.`)).length;
  }

  /**
   * Kills the process (as kill -9 would) once `whileDown` has run, then starts a new one on the same
   * port and data, with `env` over the first one's.
   */
  async restart(
    env: Readonly<Record<string, string>> = {},
    whileDown: () => Promise<void> = async () => undefined,
  ): Promise<PlatformProcess> {
    await this.app.kill();
    await whileDown();
    this.app = new PlatformProcess(this.app.port, this.data.path, { ...this.env, ...env });
    await this.app.start();
    return this.app;
  }

  async stop(): Promise<void> {
    await this.app.kill();
    await this.target.stop();
    await this.receiver?.stop();
    this.data.remove();
  }

  private async read<T>(path: string): Promise<T> {
    return this.expectStatus<T>(200, 'GET', path);
  }

  private async expectStatus<T>(status: number, method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.app.request<T>(method, path, body);
    if (response.status !== status)
      throw new Error(`${method} ${path}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }
}
