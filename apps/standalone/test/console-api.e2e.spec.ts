import type { BatchView, HistoryEntry, WavesView } from '@flotilla/projections';
import { ProductFixture, eventually, openEventStream, sleep, type PlatformProcess, type TargetServer } from '@flotilla/testing';

/**
 * What the web console reads, end to end on the real product process: the workflow and webhook
 * lists, saved column mappings, history newest first, the wave chart, the live streams (SSE), and
 * the console's own files served beside the API.
 */
describe('the API the console reads', () => {
  let product: ProductFixture;
  let app: PlatformProcess;
  let target: TargetServer;

  beforeAll(async () => {
    product = await ProductFixture.start({
      name: 'console-api',
      workflows: [{ id: 'w' }, { id: 'other' }],
      webhookEvents: ['batch.completed'],
    });
    ({ app, target } = product);
  });

  afterAll(() => product.stop());

  it('lists workflows and webhooks by cursor pages', async () => {
    const first = await app.request<{ items: { id: string }[]; nextCursor: string | null }>('GET', '/v1/workflows?limit=1');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await app.request<{ items: { id: string }[]; nextCursor: string | null }>(
      'GET',
      `/v1/workflows?limit=1&cursor=${first.body.nextCursor}`,
    );
    expect(second.body.items).toHaveLength(1);
    expect([...first.body.items, ...second.body.items].map((workflow) => workflow.id).sort()).toEqual(['other', 'w']);

    const webhooks = await app.request<{ items: { url: string; events: string[] }[]; nextCursor: string | null }>('GET', '/v1/webhooks');
    expect(webhooks.status).toBe(200);
    expect(webhooks.body.items).toEqual([expect.objectContaining({ events: ['batch.completed'] })]);
    expect(JSON.stringify(webhooks.body)).not.toContain('receiver-secret');
    expect((await app.request('GET', '/v1/webhooks?limit=0')).status).toBe(400);
  });

  it('saves a column mapping per set of headers, in any order, and refuses one naming an unknown header (422) or workflow (404)', async () => {
    const mapping = { Number: { type: 'input', field: 'n' }, Note: { type: 'metadata', key: 'note' } };
    const saved = await app.request<Record<string, unknown>>('PUT', '/v1/workflows/w/mappings', { headers: ['Number', 'Note'], mapping });
    expect(saved.status).toBe(200);
    expect(saved.body).toEqual({ headers: ['Note', 'Number'], mapping, savedAt: expect.any(String), savedBy: expect.any(String) });

    const replaced = await app.request('PUT', '/v1/workflows/w/mappings', {
      headers: ['Note', 'Number'],
      mapping: { ...mapping, Note: { type: 'skip' } },
    });
    expect(replaced.status).toBe(200);
    const listed = await app.request<{ items: { headers: string[]; mapping: Record<string, unknown> }[] }>(
      'GET',
      '/v1/workflows/w/mappings',
    );
    expect(listed.body.items).toEqual([
      expect.objectContaining({ headers: ['Note', 'Number'], mapping: { ...mapping, Note: { type: 'skip' } } }),
    ]);

    const unknownHeader = await app.request<{ details: { field: string }[] }>('PUT', '/v1/workflows/w/mappings', {
      headers: ['Number'],
      mapping: { Number: { type: 'input', field: 'n' }, Elsewhere: { type: 'skip' } },
    });
    expect(unknownHeader.status).toBe(422);
    expect(unknownHeader.body.details).toEqual([expect.objectContaining({ field: 'mapping.Elsewhere' })]);
    const noHeaders = await app.request<{ details: { field: string }[] }>('PUT', '/v1/workflows/w/mappings', { mapping: {} });
    expect(noHeaders.status).toBe(422);
    expect(noHeaders.body.details).toEqual([expect.objectContaining({ field: 'headers' })]);
    expect((await app.request('PUT', '/v1/workflows/missing/mappings', { headers: ['a'], mapping: {} })).status).toBe(404);
    expect((await app.request('GET', '/v1/workflows/missing/mappings')).status).toBe(404);
  });

  it('streams a running batch over SSE (views to 100 %, history entries once each), pages its history newest first, and charts its waves', async () => {
    target.respond = async () => {
      await sleep(50);
      return { status: 200, body: { ok: true } };
    };
    // Starts in 2 s, so both streams are open before the first wave.
    const startAt = new Date(Date.now() + 2000).toISOString();
    const id = await product.createBatch({
      name: 'live',
      maxConcurrent: 3,
      batchIntervalSeconds: 1,
      startAt,
      items: ProductFixture.items(9),
    });
    const one = await openEventStream(`${app.url}/v1/batches/${id}/events`);
    const all = await openEventStream(`${app.url}/v1/batches/events`);
    expect(one.response.status).toBe(200);
    expect(one.response.headers.get('content-type')).toContain('text/event-stream');
    expect(one.response.headers.get('cache-control')).toContain('no-cache');

    await eventually(
      () => one.of<BatchView>('batch'),
      (views) => views.some((view) => view.progress.completed === 9),
      30_000,
      'the stream shows every execution completed',
    );
    await eventually(
      () => all.of<BatchView>('batch').filter((view) => view.id === id),
      (views) => views.some((view) => view.progress.completed === 9),
      10_000,
      'the list stream shows the batch completed',
    );
    // The batch goes on to completed; its last history entries follow within a flush.
    await eventually(
      () => product.batch<BatchView>(id),
      (view) => view.status === 'completed',
      10_000,
      'batch completed',
    );
    await sleep(1500);
    await one.close();
    await all.close();

    expect(one.raw[0]).toBe('retry: 2000');
    const views = one.of<BatchView>('batch');
    // The first view comes at once; at most one a second after it, not one per event.
    expect(views[0]!.progress.triggered).toBe(0);
    expect(views.length).toBeLessThan(20);
    const completed = views.map((view) => view.progress.completed);
    expect(completed).toEqual([...completed].sort((a, b) => a - b));

    const full = await product.history<HistoryEntry>(id);
    const streamed = one.of<{ items: HistoryEntry[] }>('history').flatMap((message) => message.items);
    const streamedPositions = streamed.map((entry) => entry.position);
    expect(new Set(streamedPositions).size).toBe(streamedPositions.length);
    // Everything recorded after the stream opened came over it, in order: here that is all of it but the creation.
    const before = full.filter((entry) => !streamedPositions.includes(entry.position));
    expect(before.map((entry) => entry.type)).toEqual(['BatchCreated']);
    expect(streamed).toEqual(full.slice(before.length));

    // Newest first, page by page: the same entries as oldest first, reversed.
    const newestFirst: HistoryEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: HistoryEntry[]; nextCursor: string | null } } = await app.request(
        'GET',
        `/v1/batches/${id}/history?order=desc&limit=4${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      expect(page.status).toBe(200);
      newestFirst.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(newestFirst).toEqual([...full].reverse());
    expect((await app.request('GET', `/v1/batches/${id}/history?order=sideways`)).status).toBe(400);

    const waves = await app.request<WavesView>('GET', `/v1/batches/${id}/waves`);
    expect(waves.status).toBe(200);
    expect(waves.body.items).toHaveLength(3);
    for (const wave of waves.body.items) expect(wave).toMatchObject({ planned: 3, completed: 3, failed: 0, pending: 0 });
    // Counted by the worker thread, not on the API's thread: it never fell back.
    expect(app.output.join('')).not.toContain('waves worker failed');
    expect((await app.request('GET', '/v1/batches/missing/waves')).status).toBe(404);
    expect((await app.request('GET', '/v1/batches/missing/events')).status).toBe(404);
  });

  it('serves the console: index.html for any page a browser opens outside the API, its assets cached for good', async () => {
    const page = await fetch(`${app.url}/batches/some-id`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain('<div id="root">');
    const home = await fetch(`${app.url}/`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(await home.text()).toBe(html);

    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(`${app.url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
    expect((await script.text()).length).toBeGreaterThan(1000);

    // The API keeps its JSON answers, for browsers too; a client not asking for HTML gets the 404.
    const unknownApi = await fetch(`${app.url}/v1/nothing-here`, { headers: { accept: 'text/html' } });
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${app.url}/batches/some-id`)).status).toBe(404);
    expect((await fetch(`${app.url}/assets/missing.js`)).status).toBe(404);
  });

  it('stops promptly on SIGTERM with live streams open', async () => {
    const stream = await openEventStream(`${app.url}/v1/batches/events`);
    const started = Date.now();
    await app.stop();
    await stream.ended;
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
