import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Packet, UDPServer } from 'dns2';
import type { AddressInfo } from 'node:net';
import {
  PlatformProcess,
  TargetServer,
  eventually,
  freePort,
  startWebhookReceiver,
  tempDir,
  verifySignatureHeader,
} from '@flotilla/testing';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Every file under `dir`, however deep (the event store, its WAL and shm, each service's state file, the key files). */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });

interface ExecutionRow {
  id: string;
  outcome: { status: string; error?: string } | null;
}

/**
 * Secrets at rest and outbound calls, against the real product process: a webhook secret and an
 * Extend secret appear in no response, no log line and no byte of the data directory, while the
 * receiver still gets deliveries signed with it; outbound URLs are refused at registration and,
 * when a host name rebinds to a denied address, at connect time.
 */
describe('secrets at rest', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  const answers: Answer[] = [];

  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${app.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const answer = { status: response.status, headers: response.headers, text: await response.text() };
    answers.push(answer);
    return answer;
  };

  beforeAll(async () => {
    data = tempDir('flotilla-secrets-');
    target = new TargetServer();
    await target.start();
    app = new PlatformProcess(await freePort(), data.path);
    await app.start();
  });
  afterAll(async () => {
    await app.kill();
    await target.stop();
    data.remove();
  });

  it("keeps the webhook secret and an Extend run's secrets out of every response, log line and data file, and still signs with it", async () => {
    const webhookSecret = `whsec-${randomBytes(16).toString('hex')}`;
    const extendSecret = `ext-${randomBytes(16).toString('hex')}`;
    const receiver = await startWebhookReceiver();
    try {
      expect(
        (await call('POST', '/v1/workflows', { id: 'w', name: 'w', inputs: [{ name: 'file' }], target: { url: target.url } })).status,
      ).toBe(201);
      const registered = await call('POST', '/v1/webhooks', {
        url: receiver.url,
        events: ['batch.started', 'execution.completed', 'batch.completed'],
        secret: webhookSecret,
      });
      expect(registered.status).toBe(201);
      const webhookId = (JSON.parse(registered.text) as { id: string }).id;
      // An Extend run's secrets are sealed before they are recorded, and reach the target in clear, on its call only.
      const extend = await call('POST', '/workflow_runs/batch', {
        workflow: { id: 'w' },
        inputs: [{ file: { url: 'https://files.example.com/a.pdf' }, secrets: { apiKey: extendSecret } }],
      });
      expect(extend.status).toBe(200);
      const runBatchId = (JSON.parse(extend.text) as { batchId: string }).batchId;
      const runCall = await eventually(
        () => Promise.resolve(target.calls.find((made) => made.body.batchId === runBatchId)),
        (made) => made !== undefined,
        20_000,
        "the Extend run's target call",
      );
      expect((runCall?.body as { secrets?: unknown } | undefined)?.secrets).toEqual({ apiKey: extendSecret });
      const refused = await call('POST', '/workflow_runs/batch', {
        workflow: { id: 'w' },
        inputs: [{ file: { url: 'https://files.example.com/b.pdf' }, secrets: `${extendSecret}-not-an-object` }],
      });
      expect({ status: refused.status, names: refused.text.includes('inputs[0].secrets must be an object') }).toEqual({
        status: 422,
        names: true,
      });

      const created = await call('POST', '/v1/batches', {
        name: 'signed',
        workflowId: 'w',
        maxConcurrent: 3,
        batchIntervalSeconds: 0,
        items: [0, 1, 2].map((n) => ({ inputs: { file: `f${n}` } })),
      });
      expect(created.status).toBe(201);
      const batchId = (JSON.parse(created.text) as { id: string }).id;
      // The Extend run's deliveries come too, and the batch's own in any order: what is waited for is
      // this batch's five (a count of every delivery could pass 5 between two looks and never equal it).
      await eventually(
        () =>
          Promise.resolve(
            receiver.deliveries.filter((delivery) => delivery.body.batchId === batchId).map((delivery) => delivery.body.type),
          ),
        (types) =>
          types.sort().join() ===
          ['batch.completed', 'batch.started', 'execution.completed', 'execution.completed', 'execution.completed'].join(),
        20_000,
        'batch.started, three execution.completed and batch.completed delivered',
      );
      // Every delivery is signed with the secret the caller gave, opened from its sealed form.
      expect(new Set(receiver.deliveries.map((delivery) => delivery.body.type))).toEqual(
        new Set(['batch.started', 'execution.completed', 'batch.completed']),
      );
      for (const delivery of receiver.deliveries)
        expect(verifySignatureHeader(webhookSecret, delivery.headers['x-signature'] ?? '', delivery.raw)).toBe(true);

      // Every read the API has over what was made: the webhook, its deliveries, the batch, its
      // executions, history and results export, the workflow and its history, the Extend runs.
      for (const path of [
        `/v1/webhooks/${webhookId}`,
        `/v1/webhooks/${webhookId}/deliveries`,
        `/v1/batches/${batchId}`,
        `/v1/batches/${batchId}/executions`,
        `/v1/batches/${batchId}/history`,
        `/v1/batches/${batchId}/results?format=json`,
        `/v1/batches/${batchId}/results?format=csv`,
        '/v1/batches',
        '/v1/workflows/w',
        '/v1/workflows/w/history',
        '/workflow_runs',
        `/workflow_runs/${runBatchId}.0`,
        `/v1/batches/${runBatchId}/executions`,
        `/v1/batches/${runBatchId}/history`,
        `/v1/batches/${runBatchId}/results?format=jsonl`,
      ])
        expect((await call('GET', path)).status).toBe(200);
    } finally {
      await receiver.stop();
    }
    // A graceful stop, so nothing is left only in memory; the WAL and shm files are read too.
    await app.stop();

    for (const answer of answers) {
      expect(answer.text).not.toContain(webhookSecret);
      expect(answer.text).not.toContain(extendSecret);
      // No header names the framework, and no error carries a stack.
      expect(answer.headers.get('x-powered-by')).toBeNull();
      expect(answer.text).not.toMatch(/"stack"|\n\s+at /);
    }
    const log = app.output.join('');
    expect(log).not.toContain(webhookSecret);
    expect(log).not.toContain(extendSecret);
    const files = filesUnder(data.path);
    expect(files.some((file) => file.endsWith('events.sqlite'))).toBe(true);
    expect(files.some((file) => file.endsWith('secrets.key'))).toBe(true);
    expect(statSync(join(data.path, 'secrets.key')).mode & 0o777).toBe(0o600);
    for (const file of files) {
      const bytes = readFileSync(file);
      expect({ file, found: bytes.includes(webhookSecret) }).toEqual({ file, found: false });
      expect({ file, found: bytes.includes(extendSecret) }).toEqual({ file, found: false });
    }
    // Restarted on the same data directory (and so the same secrets.key), it still signs.
    await app.start();
    const again = await startWebhookReceiver();
    try {
      expect((await call('POST', '/v1/webhooks', { url: again.url, events: ['batch.started'], secret: webhookSecret })).status).toBe(201);
      expect(
        (
          await call('POST', '/v1/batches', {
            name: 'again',
            workflowId: 'w',
            maxConcurrent: 1,
            batchIntervalSeconds: 0,
            items: [{ inputs: { file: 'f' } }],
          })
        ).status,
      ).toBe(201);
      const [delivery] = await eventually(
        () => Promise.resolve(again.deliveries),
        (deliveries) => deliveries.length > 0,
        20_000,
        'a delivery after the restart',
      );
      expect(verifySignatureHeader(webhookSecret, delivery?.headers['x-signature'] ?? '', delivery?.raw ?? '')).toBe(true);
    } finally {
      await again.stop();
    }
  });
});

describe('outbound URL rules', () => {
  let data: ReturnType<typeof tempDir>;
  let app: PlatformProcess;
  let target: TargetServer;
  let dns: UDPServer;
  /** What the test's DNS server answers for every A question; AAAA questions get no answer. */
  let address = '127.0.0.1';
  const questions: string[] = [];

  beforeAll(async () => {
    data = tempDir('flotilla-outbound-');
    target = new TargetServer();
    await target.start();
    dns = new UDPServer((request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      if (question !== undefined) {
        questions.push(`${question.name} ${question.type}`);
        if (question.type === Packet.TYPE.A) response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 0, address }));
      }
      void send(response);
    });
    await dns.listen(0, '127.0.0.1');
    const dnsPort = (dns.address() as AddressInfo).port;
    app = new PlatformProcess(await freePort(), data.path, { DNS_SERVERS: `127.0.0.1:${dnsPort}` });
    await app.start();
  });
  afterAll(async () => {
    await app.kill();
    await target.stop();
    dns.close();
    data.remove();
  });

  interface Refusal {
    details: { code: string; field: string; message: string }[];
  }

  it('refuses the metadata address and file:// at registration, naming the field and the URL', async () => {
    const metadata = 'http://169.254.169.254/latest/meta-data/';
    const workflow = await app.request<Refusal>('POST', '/v1/workflows', { id: 'm', name: 'm', inputs: [], target: { url: metadata } });
    expect(workflow.status).toBe(422);
    expect(workflow.body.details).toEqual([expect.objectContaining({ code: 'outbound_denied', field: 'target.url' })]);
    expect(workflow.body.details[0]?.message).toContain(metadata);

    const file = await app.request<Refusal>('POST', '/v1/workflows', {
      id: 'f',
      name: 'f',
      inputs: [],
      target: { url: 'file:///etc/passwd' },
    });
    expect(file.status).toBe(422);
    expect(file.body.details).toEqual([expect.objectContaining({ field: 'target.url' })]);

    const webhook = await app.request<Refusal>('POST', '/v1/webhooks', {
      url: 'http://[fe80::1]:8080/hooks',
      events: ['batch.started'],
      secret: 'a-long-enough-secret',
    });
    expect(webhook.status).toBe(422);
    expect(webhook.body.details).toEqual([expect.objectContaining({ code: 'outbound_denied', field: 'url' })]);
    const fileHook = await app.request<Refusal>('POST', '/v1/webhooks', {
      url: 'file:///etc/passwd',
      events: ['batch.started'],
      secret: 'a-long-enough-secret',
    });
    expect(fileHook.status).toBe(422);
    expect(fileHook.body.details.map((problem) => problem.field)).toEqual(['url']);

    // A name the test's DNS server answers with the metadata address is refused as well.
    address = '169.254.169.254';
    const named = await app.request<Refusal>('POST', '/v1/workflows', {
      id: 'n',
      name: 'n',
      inputs: [],
      target: { url: 'http://metadata.flotilla.test/latest' },
    });
    expect(named.status).toBe(422);
    expect(named.body.details[0]?.message).toContain('resolves to 169.254.169.254');
    address = '127.0.0.1';
  });

  it('refuses at connect time a host name that rebinds to a denied address after registration: the execution fails, nothing is sent', async () => {
    const port = new URL(target.url).port;
    address = '127.0.0.1';
    const registered = await app.request('POST', '/v1/workflows', {
      id: 'rebind',
      name: 'rebind',
      inputs: [{ name: 'n' }],
      target: { url: `http://rebind.flotilla.test:${port}/run` },
      retry: { maxAttempts: 1 },
    });
    // Only the test's DNS server knows the name: registering it shows the product asked it.
    expect(registered.status).toBe(201);
    expect(questions.some((question) => question.startsWith('rebind.flotilla.test'))).toBe(true);

    address = '169.254.169.254';
    const created = await app.request<{ id: string }>('POST', '/v1/batches', {
      name: 'rebind',
      workflowId: 'rebind',
      maxConcurrent: 1,
      batchIntervalSeconds: 0,
      items: [{ inputs: { n: '1' } }],
    });
    expect(created.status).toBe(201);
    const [execution] = await eventually(
      () => app.request<{ items: ExecutionRow[] }>('GET', `/v1/batches/${created.body.id}/executions`).then((answer) => answer.body.items),
      (items) => items[0]?.outcome?.status === 'failed',
      20_000,
      'the execution to fail',
    );
    expect(execution?.outcome?.error).toContain('outbound call refused');
    expect(execution?.outcome?.error).toContain('rebind.flotilla.test resolves to 169.254.169.254');
    expect(target.calls).toHaveLength(0);
  });
});
