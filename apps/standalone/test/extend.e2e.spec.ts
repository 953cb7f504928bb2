import { Extend, ExtendClient, ExtendError, WebhookSignatureVerificationError } from 'extend-ai';
import type { BatchView, WorkflowRunView } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, startWebhookReceiver, tempDir } from '@flotilla/testing';

/**
 * The Extend-compatible API driven by the official `extend-ai` SDK, pointed at the real product
 * process: batch runs, listing, retrieval, cancellation, the typed errors, Extend-format webhooks
 * checked with the SDK's own verifier, and the ordinary Flotilla batch behind each request.
 */

const WEBHOOK_SECRET = 'wss_extend-e2e-secret';

/** Compile-time: the run Flotilla answers is a WorkflowRun and a WorkflowRunSummary as the SDK types them. */
export const asSdkRun = (run: WorkflowRunView): [Extend.WorkflowRun, Extend.WorkflowRunSummary] => [run, run];

/** What `client.workflowRuns.*` rejects with: the SDK's typed error, with its status and body. */
const failure = async (call: Promise<unknown>): Promise<ExtendError & { body: { error: string; message: string } }> => {
  try {
    await call;
  } catch (error) {
    if (error instanceof ExtendError) return error as ExtendError & { body: { error: string; message: string } };
    throw error;
  }
  throw new Error('the call succeeded');
};

/** Every run of a batch, through the SDK's pages of `pageSize`, and the page sizes seen. */
const allRuns = async (
  client: ExtendClient,
  batchId: string,
  pageSize: number,
): Promise<{ runs: Extend.WorkflowRunSummary[]; pages: number[] }> => {
  const runs: Extend.WorkflowRunSummary[] = [];
  const pages: number[] = [];
  let token: string | undefined;
  do {
    const page = await client.workflowRuns.list({
      batchId,
      maxPageSize: pageSize,
      ...(token === undefined ? {} : { nextPageToken: token }),
    });
    pages.push(page.data.length);
    runs.push(...page.data);
    token = page.nextPageToken;
  } while (token !== undefined);
  return { runs, pages };
};

describe('the Extend-compatible API, through the extend-ai SDK', () => {
  let data: ReturnType<typeof tempDir>;
  let target: TargetServer;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let app: PlatformProcess;
  let client: ExtendClient;
  /** The slow workflow's calls hang until released. */
  const hanging: (() => void)[] = [];
  let webhookId: string;

  beforeAll(async () => {
    data = tempDir('flotilla-extend-e2e-');
    target = new TargetServer();
    target.respond = (call) => {
      const { workflowId } = call.body as unknown as { workflowId: string };
      if (workflowId !== 'slow') return { status: 200, body: { parsed: (call.body.inputs['file'] as { url?: string }).url ?? null } };
      return new Promise((release) => hanging.push(() => release({ status: 200, body: { late: true } })));
    };
    await target.start();
    receiver = await startWebhookReceiver();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
    client = new ExtendClient({ token: 'any-token-for-now', baseUrl: app.url, maxRetries: 0 });
    const register = async (body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> =>
      app.request<Record<string, unknown>>('POST', '/v1/workflows', body);
    expect(
      (await register({ id: 'invoices', name: 'Parse invoice', inputs: [{ name: 'file' }], target: { url: target.url } })).status,
    ).toBe(201);
    const slow = await register({
      id: 'slow',
      name: 'Slow',
      inputs: [{ name: 'file' }],
      target: { url: target.url, timeoutMs: 60_000 },
      defaults: { maxConcurrent: 1, batchIntervalSeconds: 3600 },
    });
    expect(slow.status).toBe(201);
    expect(slow.body['defaults']).toEqual({ maxConcurrent: 1, batchIntervalSeconds: 3600 });
    expect((await register({ id: 'names', name: 'Names', inputs: [{ name: 'first_name' }], target: { url: target.url } })).status).toBe(
      201,
    );
    const webhook = await app.request<{ id: string; format: string; events: string[] }>('POST', '/v1/webhooks', {
      url: receiver.url,
      format: 'extend',
      events: ['workflow_run.completed', 'workflow_run.failed', 'workflow_run.cancelled'],
      secret: WEBHOOK_SECRET,
    });
    expect(webhook.status).toBe(201);
    expect(webhook.body.format).toBe('extend');
    webhookId = webhook.body.id;
  });

  afterAll(async () => {
    for (const release of hanging) release();
    await app.kill();
    await receiver.stop();
    await target.stop();
    data.remove();
  });

  const extendDeliveries = (eventType: string) =>
    receiver.deliveries.filter((delivery) => (JSON.parse(delivery.raw) as { eventType?: string }).eventType === eventType);

  describe('a batch of 25 inputs', () => {
    const inputs = Array.from({ length: 25 }, (_, i) => ({
      file: { url: `https://files.example.com/invoices/inv-${i}.pdf`, name: `inv-${i}.pdf` },
      metadata: { customerId: `cust_${i}`, n: i, vip: i % 2 === 0, tags: ['a', i], owner: { team: 'ap' } },
    }));
    let batchId: string;

    beforeAll(async () => {
      // The first two deliveries are answered 500: they are retried (1 s, then 2 s later) and recorded.
      receiver.fail.count = 2;
      const created = await client.workflowRuns.createBatch({ workflow: { id: 'invoices' }, inputs });
      batchId = created.batchId;
    });

    it('answers the batch id, and every input reaches the target once with its file and typed metadata', async () => {
      expect(batchId).toMatch(/^bat_/);
      const calls = await eventually(
        () => target.calls.filter((call) => call.body.batchId === batchId),
        (found) => found.length >= 25,
        20_000,
        '25 target calls',
      );
      expect(new Set(calls.map((call) => call.key)).size).toBe(25);
      expect(calls).toHaveLength(25);
      for (const call of calls) {
        const index = Number(call.key.slice(call.key.lastIndexOf('.') + 1));
        expect(call.body.inputs).toEqual({ file: inputs[index]!.file });
        expect(call.body.metadata).toEqual(inputs[index]!.metadata);
      }
    });

    it('lists all 25 runs in pages of 10 with nextPageToken, and their statuses reach PROCESSED', async () => {
      const { runs, pages } = await eventually(
        () => allRuns(client, batchId, 10),
        (listed) => listed.runs.every((run) => run.status === 'PROCESSED'),
        20_000,
        'every run PROCESSED',
      );
      expect(pages).toEqual([10, 10, 5]);
      expect(runs.map((run) => run.id)).toEqual(inputs.map((_, i) => `${batchId}.${i}`));
      expect(runs.every((run) => run.batchId === batchId && run.object === 'workflow_run')).toBe(true);
      expect(runs[3]!.files[0]).toMatchObject({ object: 'file', name: 'inv-3.pdf' });
      const filtered = await client.workflowRuns.list({ batchId, status: 'PENDING' });
      expect(filtered.data).toEqual([]);
    });

    it('retrieves a run with its metadata, output and workflow', async () => {
      const run = await client.workflowRuns.retrieve(`${batchId}.7`);
      expect(run).toMatchObject({
        object: 'workflow_run',
        id: `${batchId}.7`,
        status: 'PROCESSED',
        batchId,
        metadata: inputs[7]!.metadata,
        workflow: { object: 'workflow', id: 'invoices', name: 'Parse invoice' },
        workflowVersion: { object: 'workflow_version', version: '1' },
        failureReason: null,
        failureMessage: null,
        stepRuns: [],
        reviewed: false,
      });
      expect((run as unknown as { output: unknown }).output).toEqual({ parsed: inputs[7]!.file.url });
      expect(run.startTime).not.toBeNull();
      expect(run.endTime).not.toBeNull();
    });

    it('sends workflow_run.completed webhooks that the SDK verifies, with the batch id and the metadata', async () => {
      const completed = await eventually(
        () => extendDeliveries('workflow_run.completed').filter((delivery) => delivery.raw.includes(batchId)),
        (found) => found.length >= 25,
        20_000,
        '25 completed webhooks',
      );
      const byRun = new Map<string, Extend.WorkflowRun>();
      for (const delivery of completed) {
        const event = client.webhooks.verifyAndParse(delivery.raw, delivery.headers, WEBHOOK_SECRET);
        expect(event.eventType).toBe('workflow_run.completed');
        const run = event.payload as Extend.WorkflowRun;
        byRun.set(run.id, run);
        expect(run.batchId).toBe(batchId);
        expect(run.status).toBe('PROCESSED');
      }
      expect(byRun.size).toBe(25);
      expect(byRun.get(`${batchId}.4`)?.metadata).toEqual(inputs[4]!.metadata);
      const [first] = completed;
      expect(() => client.webhooks.verifyAndParse(first!.raw, first!.headers, 'wss_not-the-secret')).toThrow(
        WebhookSignatureVerificationError,
      );
      expect(() => client.webhooks.verifyAndParse(`${first!.raw} `, first!.headers, WEBHOOK_SECRET)).toThrow(
        WebhookSignatureVerificationError,
      );
    });

    it('retries and records Extend-format deliveries like the others', async () => {
      type Attempt = { eventType: string; executionId: string | null; statusCode: number | null; delivered: boolean };
      const ours = await eventually(
        async () =>
          (await app.request<{ items: Attempt[] }>('GET', `/v1/webhooks/${webhookId}/deliveries?limit=200`)).body.items.filter((attempt) =>
            attempt.executionId?.startsWith(`${batchId}.`),
          ),
        (attempts) => attempts.filter((attempt) => attempt.delivered).length >= 25,
        20_000,
        '25 delivered attempts on the delivery log',
      );
      expect(ours.filter((attempt) => attempt.statusCode === 500 && !attempt.delivered)).toHaveLength(2);
      expect(ours.filter((attempt) => attempt.delivered)).toHaveLength(25);
      expect(new Set(ours.map((attempt) => attempt.eventType))).toEqual(new Set(['workflow_run.completed']));
    });

    it('is an ordinary Flotilla batch at priority 90, exported like any other', async () => {
      const batch = await app.request<BatchView>('GET', `/v1/batches/${batchId}`);
      expect(batch.body).toMatchObject({ id: batchId, workflowId: 'invoices', priority: 90, maxConcurrent: 25, batchIntervalSeconds: 0 });
      const response = await fetch(`${app.url}/v1/batches/${batchId}/results?format=jsonl`);
      const lines = (await response.text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { inputs: unknown; metadata: unknown });
      expect(lines).toHaveLength(25);
      expect(lines[2]).toMatchObject({ inputs: { file: inputs[2]!.file }, metadata: inputs[2]!.metadata });
    });
  });

  describe('a paced batch (the workflow version defaults: 1 per wave, an hour apart)', () => {
    let batchId: string;

    beforeAll(async () => {
      const created = await client.workflowRuns.createBatch({
        workflow: { id: 'slow', version: 'latest' },
        inputs: [0, 1, 2, 3].map((i) => ({ file: { text: `note ${i}` }, metadata: { i } })),
        priority: 20,
      });
      batchId = created.batchId;
      await eventually(
        () => client.workflowRuns.retrieve(`${batchId}.0`),
        (run) => run.status === 'PROCESSING',
        20_000,
        'the first run PROCESSING',
      );
    });

    it('cancels a PENDING run, and refuses (409, naming the status) to cancel one already triggered', async () => {
      const cancelled = await client.workflowRuns.cancel(`${batchId}.1`);
      expect(cancelled).toMatchObject({ id: `${batchId}.1`, status: 'CANCELLED' });
      expect((await client.workflowRuns.retrieve(`${batchId}.1`)).status).toBe('CANCELLED');
      const refused = await failure(client.workflowRuns.cancel(`${batchId}.0`));
      expect(refused.statusCode).toBe(409);
      expect(refused.body.error).toBe('workflow_run_not_cancellable');
      expect(refused.body.message).toContain('PROCESSING');
      const again = await failure(client.workflowRuns.cancel(`${batchId}.1`));
      expect(again.statusCode).toBe(409);
      expect(again.body.message).toContain('CANCELLED');
    });

    it('refuses a bodyless cancel without an Authorization header (415), as the Content-Type rule says', async () => {
      const response = await fetch(`${app.url}/workflow_runs/${batchId}.2/cancel`, { method: 'POST' });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ error: 'unsupported_media_type' });
    });

    it('is paused and cancelled through /v1 like any other batch; the batch-wide cancel sends one webhook per run it cancelled', async () => {
      const batch = await app.request<BatchView>('GET', `/v1/batches/${batchId}`);
      expect(batch.body).toMatchObject({ priority: 20, maxConcurrent: 1, batchIntervalSeconds: 3600 });
      expect((await app.request<BatchView>('POST', `/v1/batches/${batchId}/pause`, {})).body.status).toBe('paused');
      expect((await app.request<BatchView>('POST', `/v1/batches/${batchId}/cancel`, { reason: 'enough' })).body.status).toBe('cancelled');
      const cancelled = await eventually(
        () =>
          extendDeliveries('workflow_run.cancelled')
            .map((delivery) => client.webhooks.verifyAndParse(delivery.raw, delivery.headers, WEBHOOK_SECRET).payload as Extend.WorkflowRun)
            .filter((run) => run.batchId === batchId),
        (runs) => runs.length >= 3,
        20_000,
        'three workflow_run.cancelled webhooks',
      );
      // Run 1 was cancelled on its own, runs 2 and 3 by the batch: one webhook each, none twice.
      expect(cancelled.map((run) => run.id).sort()).toEqual([`${batchId}.1`, `${batchId}.2`, `${batchId}.3`]);
      expect(cancelled.find((run) => run.id === `${batchId}.3`)?.metadata).toEqual({ i: 3 });
      const listed = await client.workflowRuns.list({ batchId, status: 'CANCELLED' });
      expect(listed.data.map((run) => run.id)).toEqual([`${batchId}.1`, `${batchId}.2`, `${batchId}.3`]);
    });

    it('is resumed through /v1 like any other batch, and the default priority is 90', async () => {
      const { batchId: other } = await client.workflowRuns.createBatch({
        workflow: { id: 'slow', version: 'draft' },
        inputs: [{ file: { id: 'f_1' } }, { file: { id: 'f_2' } }],
      });
      expect((await app.request<BatchView>('GET', `/v1/batches/${other}`)).body.priority).toBe(90);
      // The first wave triggers run 0 as soon as it is due; a pause that came first would leave run 0
      // pending too, and the resume would then plan run 1 an hour after it.
      await eventually(
        () => client.workflowRuns.retrieve(`${other}.0`),
        (run) => run.status === 'PROCESSING',
        20_000,
        'the first run PROCESSING',
      );
      expect((await app.request<BatchView>('POST', `/v1/batches/${other}/pause`, {})).body.status).toBe('paused');
      expect((await client.workflowRuns.retrieve(`${other}.1`)).status).toBe('PENDING');
      expect((await app.request<BatchView>('POST', `/v1/batches/${other}/resume`, {})).body.status).toBe('running');
      // The resume re-plans the pending run from now: one per wave, so it is due at once.
      await eventually(
        () => client.workflowRuns.retrieve(`${other}.1`),
        (run) => run.status === 'PROCESSING',
        20_000,
        'the second run PROCESSING after the resume',
      );
      const history = await app.request<{ items: { type: string }[] }>('GET', `/v1/batches/${other}/history`);
      expect(history.body.items.map((entry) => entry.type)).toEqual(
        expect.arrayContaining(['BatchCreated', 'BatchPaused', 'BatchResumed']),
      );
    });
  });

  describe('listing across batches', () => {
    const pages = async (request: Extend.WorkflowRunsListRequest): Promise<{ ids: string[]; sizes: number[] }> => {
      const ids: string[] = [];
      const sizes: number[] = [];
      let token: string | undefined;
      do {
        const page = await client.workflowRuns.list({ ...request, ...(token === undefined ? {} : { nextPageToken: token }) });
        sizes.push(page.data.length);
        ids.push(...page.data.map((run) => run.id));
        token = page.nextPageToken;
      } while (token !== undefined);
      return { ids, sizes };
    };

    it('pages newest batch first, each batch in input order, by workflow and status too', async () => {
      const all = await pages({ maxPageSize: 7 });
      expect(all.ids).toHaveLength(31);
      expect(new Set(all.ids).size).toBe(31);
      expect(all.sizes).toEqual([7, 7, 7, 7, 3]);
      const batchOf = (id: string): string => id.slice(0, id.lastIndexOf('.'));
      const order = [...new Set(all.ids.map(batchOf))];
      expect(order).toHaveLength(3);
      const slow = await pages({ workflowId: 'slow', maxPageSize: 4 });
      expect(slow.ids).toEqual(all.ids.filter((id) => order.slice(0, 2).includes(batchOf(id))));
      expect(slow.sizes).toEqual([4, 2]);
      const invoices = await pages({ workflowId: 'invoices', status: 'PROCESSED', maxPageSize: 1000 });
      expect(invoices.ids).toEqual(all.ids.filter((id) => batchOf(id) === order[2]));
      const cancelled = await pages({ status: 'CANCELLED', maxPageSize: 2 });
      expect(cancelled.sizes).toEqual([2, 1]);
    });
  });

  describe('errors, as the SDK types them', () => {
    const file = { url: 'https://files.example.com/a.pdf' };

    it('400 BadRequestError: no inputs, more than 1,000, an input with no file, a malformed file', async () => {
      const cases: [unknown, string][] = [
        [[], 'inputs must hold at least 1 input'],
        [Array.from({ length: 1001 }, () => ({ file })), 'inputs may hold at most 1000 inputs'],
        [[{ file }, { metadata: { a: 1 } }], 'inputs[1].file'],
        [[{ file: { url: 'https://x.example/a', id: 'f_1' } }], 'inputs[0].file must have exactly one of url, id or text'],
      ];
      for (const [inputs, message] of cases) {
        const error = await failure(
          client.workflowRuns.createBatch({
            workflow: { id: 'invoices' },
            inputs: inputs as Extend.WorkflowRunsCreateBatchRequestInputsItem[],
          }),
        );
        expect(error).toBeInstanceOf(Extend.BadRequestError);
        expect(error.body.error).toBe('invalid_request');
        expect(error.body.message).toContain(message);
      }
    });

    it('404 NotFoundError: an unknown workflow, an unknown version, an unknown run', async () => {
      const unknown = await failure(client.workflowRuns.createBatch({ workflow: { id: 'nope' }, inputs: [{ file }] }));
      expect(unknown).toBeInstanceOf(Extend.NotFoundError);
      expect(unknown.body).toMatchObject({ error: 'workflow_not_found', message: 'Workflow nope does not exist' });
      const version = await failure(client.workflowRuns.createBatch({ workflow: { id: 'invoices', version: '7' }, inputs: [{ file }] }));
      expect(version).toBeInstanceOf(Extend.NotFoundError);
      expect(version.body.message).toBe('Workflow invoices has no version 7');
      const run = await failure(client.workflowRuns.retrieve('bat_nothing.0'));
      expect(run).toBeInstanceOf(Extend.NotFoundError);
      expect(run.body.error).toBe('workflow_run_not_found');
    });

    it('422 UnprocessableEntityError: inputs the workflow does not declare, secrets over 16 KiB, priority out of range', async () => {
      const undeclared = await failure(client.workflowRuns.createBatch({ workflow: { id: 'names' }, inputs: [{ file }] }));
      expect(undeclared).toBeInstanceOf(Extend.UnprocessableEntityError);
      expect(undeclared.body).toMatchObject({ error: 'rule_violation' });
      expect(undeclared.body.message).toContain('inputs[0]: "file" is not an input of workflow names v1');
      const secrets = await failure(
        client.workflowRuns.createBatch({
          workflow: { id: 'invoices' },
          inputs: [{ file }, { file, secrets: { apiKey: 'k'.repeat(17_000) } }],
        }),
      );
      expect(secrets).toBeInstanceOf(Extend.UnprocessableEntityError);
      expect(secrets.body.message).toContain('inputs[1].secrets is over 16384 bytes');
      const priority = await failure(client.workflowRuns.createBatch({ workflow: { id: 'invoices' }, inputs: [{ file }], priority: 101 }));
      expect(priority).toBeInstanceOf(Extend.UnprocessableEntityError);
      expect(priority.body.message).toContain('priority');
    });

    it('400 for a bad list query: maxPageSize out of range, a bogus page token', async () => {
      const size = await failure(client.workflowRuns.list({ maxPageSize: 1001 }));
      expect(size).toBeInstanceOf(Extend.BadRequestError);
      expect(size.body.message).toContain('maxPageSize');
      const token = await failure(client.workflowRuns.list({ nextPageToken: 'bogus' }));
      expect(token).toBeInstanceOf(Extend.BadRequestError);
      expect(token.body.message).toContain('nextPageToken');
    });
  });
});

describe('the Extend batch rate limit', () => {
  it('answers 429 TooManyRequestsError with Retry-After past EXTEND_RATE_LIMIT', async () => {
    const data = tempDir('flotilla-extend-429-');
    const target = new TargetServer();
    await target.start();
    const app = new PlatformProcess(await freePort(), data.path, { EXTEND_RATE_LIMIT: '5' });
    try {
      await app.start();
      await app.request('POST', '/v1/workflows', {
        id: 'invoices',
        name: 'Invoices',
        inputs: [{ name: 'file' }],
        target: { url: target.url },
      });
      const client = new ExtendClient({ token: 't', baseUrl: app.url, maxRetries: 0 });
      const inputs = Array.from({ length: 5 }, (_, i) => ({ file: { id: `file_${i}` } }));
      expect((await client.workflowRuns.createBatch({ workflow: { id: 'invoices' }, inputs })).batchId).toMatch(/^bat_/);
      const limited = await failure(client.workflowRuns.createBatch({ workflow: { id: 'invoices' }, inputs }));
      expect(limited).toBeInstanceOf(Extend.TooManyRequestsError);
      expect(limited.body.error).toBe('rate_limited');
      const retryAfter = Number(limited.rawResponse?.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    } finally {
      await app.kill();
      await target.stop();
      data.remove();
    }
  });
});
