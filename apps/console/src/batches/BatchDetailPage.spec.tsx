import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { batchView } from '../../test/batches';
import { renderScreen, stubFetch } from '../../test/render';
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
});
