import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { batchView } from '../../test/batches';
import { eventStream, renderScreen, stubFetch } from '../../test/render';
import { BatchDetailPage } from './BatchDetailPage';
import type { ExecutionView } from './types';

const execution = (index: number, overrides: Partial<ExecutionView> = {}): ExecutionView => ({
  id: `bat_1.${index}`,
  batchId: 'bat_1',
  index,
  status: 'pending',
  executeAt: '2026-12-01T09:10:00.000Z',
  triggeredAt: null,
  inputs: { email: `u${index}@example.com` },
  profile: null,
  metadata: {},
  attempts: 0,
  lastError: null,
  outcome: null,
  ...overrides,
});

const routes = (overrides: Record<string, (call: { path: string; method: string; body: unknown }) => unknown> = {}) => ({
  'GET /v1/batches/bat_1': () => batchView(),
  'GET /v1/batches/bat_1/executions': () => ({ items: [execution(0), execution(1)], nextCursor: 'e2' }),
  'GET /v1/batches/bat_1/history': () => ({
    items: [{ position: '5', type: 'BatchStarted', occurredAt: '2026-12-01T09:00:00.000Z', actor: 'system', data: {} }],
    nextCursor: null,
  }),
  'GET /v1/batches/bat_1/waves': () => ({ items: [], bucketSeconds: 60 }),
  ...overrides,
});

const renderDetail = () => renderScreen(<BatchDetailPage />, { path: '/batches/bat_1', route: '/batches/:id' });

describe('BatchDetailPage', () => {
  it('shows the heading, the progress bar, the downloads and the history', async () => {
    stubFetch(routes());
    renderDetail();
    expect(await screen.findByRole('heading', { name: 'Spring mailing' })).toBeInTheDocument();
    expect(screen.getByRole('progressbar', { name: 'Spring mailing progress' })).toHaveAttribute('aria-valuenow', '25');
    expect(screen.getByRole('link', { name: 'Download results (CSV)' })).toHaveAttribute('href', '/v1/batches/bat_1/results?format=csv');
    expect(screen.getByRole('link', { name: 'Download results (JSON)' })).toHaveAttribute('href', '/v1/batches/bat_1/results?format=json');
    expect(screen.getByRole('link', { name: 'Download failed items (CSV)' })).toHaveAttribute(
      'href',
      '/v1/batches/bat_1/results?format=csv&status=failed',
    );
    expect(await screen.findByText('BatchStarted')).toBeInTheDocument();
    expect(await screen.findByRole('button', { name: 'Cancel execution 1' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Resume' })).toBeDisabled();
  });

  it('pauses with the reason typed in the dialog', async () => {
    const calls = stubFetch(routes({ 'POST /v1/batches/bat_1/pause': () => batchView({ status: 'paused' }) }));
    renderDetail();
    await userEvent.click(await screen.findByRole('button', { name: 'Pause' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'maintenance window');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await waitFor(() =>
      expect(calls).toContainEqual({ path: '/v1/batches/bat_1/pause', method: 'POST', body: { reason: 'maintenance window' } }),
    );
  });

  it('starts each opening of the dialog with an empty reason', async () => {
    stubFetch(routes({ 'POST /v1/batches/bat_1/pause': () => batchView({ status: 'paused' }) }));
    renderDetail();
    await userEvent.click(await screen.findByRole('button', { name: 'Pause' }));
    await userEvent.type(within(await screen.findByRole('dialog')).getByLabelText('Reason'), 'maintenance window');
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    // The same dialog, opened again for the next action on the (now paused) batch.
    await userEvent.click(screen.getByRole('button', { name: /^Cancel$/ }));
    expect(within(await screen.findByRole('dialog')).getByLabelText('Reason')).toHaveValue('');
  });

  it('reschedules one execution to the new time', async () => {
    const calls = stubFetch(routes({ 'POST /v1/executions/bat_1.1/reschedule': () => execution(1) }));
    renderDetail();
    await userEvent.click(await screen.findByRole('button', { name: 'Reschedule execution 1' }));
    const dialog = await screen.findByRole('dialog');
    const input = within(dialog).getByLabelText(/New time/);
    await userEvent.clear(input);
    await userEvent.type(input, '2026-12-02T10:30');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(calls.some((call) => call.path === '/v1/executions/bat_1.1/reschedule')).toBe(true));
    const call = calls.find((c) => c.path === '/v1/executions/bat_1.1/reschedule');
    expect(call?.body).toEqual({ executeAt: new Date('2026-12-02T10:30').toISOString() });
  });

  it('sends only the changed pacing fields', async () => {
    const calls = stubFetch(routes({ 'PATCH /v1/batches/bat_1': () => batchView({ maxConcurrent: 3 }) }));
    renderDetail();
    await userEvent.click(await screen.findByRole('button', { name: 'Edit pacing' }));
    const dialog = await screen.findByRole('dialog');
    const field = within(dialog).getByLabelText('Max concurrent');
    await userEvent.clear(field);
    await userEvent.type(field, '3');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(calls).toContainEqual({ path: '/v1/batches/bat_1', method: 'PATCH', body: { maxConcurrent: 3 } }));
  });

  it('follows the batch stream: the progress reaches 100 and new history entries come first, without a reload', async () => {
    const started = { position: '5', type: 'BatchStarted', occurredAt: '2026-12-01T09:00:00.000Z', actor: 'system', data: {} };
    const fresh = [
      { position: '6', type: 'WaveDue', occurredAt: '2026-12-01T09:01:00.000Z', data: {} },
      { position: '7', type: 'BatchCompleted', occurredAt: '2026-12-01T09:02:00.000Z', actor: 'system', data: {} },
    ];
    let sent = false;
    const done = batchView({ status: 'completed', progress: { ...batchView().progress, pending: 0, triggered: 200, percent: 100 } });
    stubFetch(
      routes({
        // The store as the stream tells it: newest first, with what was streamed once it was.
        'GET /v1/batches/bat_1/history': () => ({ items: sent ? [...fresh].reverse().concat(started) : [started], nextCursor: null }),
        'GET /v1/batches/bat_1/events': () => {
          sent = true;
          return eventStream([
            { event: 'batch', data: done },
            { event: 'history', data: { items: fresh } },
          ]);
        },
      }),
    );
    renderDetail();
    await screen.findByRole('heading', { name: 'Spring mailing' });
    await waitFor(() =>
      expect(screen.getByRole('progressbar', { name: 'Spring mailing progress' })).toHaveAttribute('aria-valuenow', '100'),
    );
    const history = within(await screen.findByRole('table', { name: 'History' }));
    await waitFor(() => expect(history.getAllByRole('row')[1]).toHaveTextContent('BatchCompleted'));
    expect(history.getAllByRole('row')[2]).toHaveTextContent('WaveDue');
    expect(history.getAllByRole('row')).toHaveLength(4);
  });

  it('keeps the first history page one page long as live entries come in', async () => {
    const entry = (position: number, type: string) => ({
      position: String(position),
      type,
      occurredAt: '2026-12-01T09:00:00.000Z',
      data: {},
    });
    const stored = Array.from({ length: 50 }, (_, i) => entry(50 - i, 'ExecutionTriggered'));
    const fresh = Array.from({ length: 30 }, (_, i) => entry(51 + i, i === 29 ? 'BatchCompleted' : 'ExecutionCompleted'));
    let historyReads = 0;
    let streamed: (() => void) | undefined;
    stubFetch(
      routes({
        // The first read answers; the refetches that follow never do, so the page shows what the stream made of it.
        'GET /v1/batches/bat_1/history': () =>
          historyReads++ === 0 ? { items: stored, nextCursor: 'h50' } : new Response(new ReadableStream({ start: () => undefined })),
        // Sent once the first page is on screen (entries streamed before it are in the page it loads).
        'GET /v1/batches/bat_1/events': () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start: (controller) => {
                streamed = () =>
                  controller.enqueue(new TextEncoder().encode(`event: history\ndata: ${JSON.stringify({ items: fresh })}\n\n`));
              },
            }),
            { status: 200, headers: { 'content-type': 'text/event-stream' } },
          ),
      }),
    );
    renderDetail();
    await within(await screen.findByRole('table', { name: 'History' })).findAllByText('ExecutionTriggered');
    await waitFor(() => expect(streamed).toBeDefined());
    streamed?.();
    const history = within(await screen.findByRole('table', { name: 'History' }));
    await waitFor(() => expect(history.getAllByRole('row')[1]).toHaveTextContent('BatchCompleted'));
    // A header row and 50 entries: the 30 streamed, newest first, then the 20 newest stored.
    expect(history.getAllByRole('row')).toHaveLength(51);
    expect(history.getAllByRole('row')[31]).toHaveTextContent('ExecutionTriggered');
  });
});
