import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderScreen, stubFetch } from '../../test/render';
import type { DeliveryAttempt, WebhookView } from './types';
import { WebhooksPage } from './WebhooksPage';

const webhook = (overrides: Partial<WebhookView> = {}): WebhookView => ({
  id: 'whk_1',
  url: 'https://hooks.example.com/all',
  events: ['execution.completed', 'execution.failed'],
  workflowId: null,
  format: 'flotilla',
  createdAt: '2026-11-01T10:00:00.000Z',
  ...overrides,
});

const attempt = (overrides: Partial<DeliveryAttempt> = {}): DeliveryAttempt => ({
  deliveryId: 'dlv_1',
  eventId: 'evt_1',
  eventType: 'execution.failed',
  batchId: 'bat_1',
  executionId: 'bat_1.3',
  attempt: 1,
  statusCode: 200,
  error: null,
  delivered: true,
  durationMs: 42,
  occurredAt: '2026-12-01T09:05:00.000Z',
  nextAttemptAt: null,
  ...overrides,
});

const hooks = [
  webhook(),
  webhook({ id: 'whk_2', url: 'https://crm.example.com/flotilla', events: ['batch.completed'], workflowId: 'wf_mail', format: 'extend' }),
];

const renderPage = () => renderScreen(<WebhooksPage />, { path: '/webhooks', route: '/webhooks/*' });

const rowWith = (text: string): HTMLElement => {
  const row = screen.getByText(text).closest('tr');
  if (!(row instanceof HTMLElement)) throw new Error(`No row with ${text}`);
  return row;
};

describe('WebhooksPage', () => {
  it('lists the webhooks with their events, workflow, format and no secret', async () => {
    const calls = stubFetch({
      // A stray `secret` in an answer is not shown: the page lists the fields it knows.
      'GET /v1/webhooks': () => ({ items: hooks.map((hook) => ({ ...hook, secret: 'super-secret-value' })), nextCursor: null }),
    });
    renderPage();
    expect(screen.getByRole('heading', { level: 2, name: 'Webhooks' })).toBeInTheDocument();
    expect(screen.getByLabelText('Loading the webhooks')).toBeInTheDocument();
    await screen.findByText('https://hooks.example.com/all');
    expect(calls[0]?.path).toBe('/v1/webhooks?limit=50');
    expect(screen.getByRole('table', { name: 'Webhooks' })).toBeInTheDocument();

    const all = within(rowWith('https://hooks.example.com/all'));
    expect(all.getByText('execution.completed')).toBeInTheDocument();
    expect(all.getByText('execution.failed')).toBeInTheDocument();
    expect(all.getByText('Every workflow')).toBeInTheDocument();
    expect(all.getByText('flotilla')).toBeInTheDocument();
    expect(all.getByText('whk_1')).toBeInTheDocument();

    const crm = within(rowWith('https://crm.example.com/flotilla'));
    expect(crm.getByText('batch.completed')).toBeInTheDocument();
    expect(crm.getByText('wf_mail')).toBeInTheDocument();
    expect(crm.getByText('extend')).toBeInTheDocument();
    expect(crm.getByRole('button', { name: 'Deliveries of https://crm.example.com/flotilla' })).toBeInTheDocument();

    expect(screen.queryByText(/super-secret-value/)).not.toBeInTheDocument();
    expect(calls.some((call) => call.path.includes('/deliveries'))).toBe(false);
  });

  it('loads the deliveries of the chosen webhook with their status codes, attempts and outcomes', async () => {
    const calls = stubFetch({
      'GET /v1/webhooks': () => ({ items: hooks, nextCursor: null }),
      'GET /v1/webhooks/whk_1/deliveries': () => ({ items: [attempt({ batchId: 'bat_other' })], nextCursor: null }),
      'GET /v1/webhooks/whk_2/deliveries': () => ({
        items: [
          attempt({ deliveryId: 'dlv_9', attempt: 3, statusCode: 503, delivered: false, error: 'HTTP 503', nextAttemptAt: null }),
          attempt({
            deliveryId: 'dlv_9',
            attempt: 2,
            statusCode: null,
            delivered: false,
            error: 'connect ECONNREFUSED',
            nextAttemptAt: '2026-12-01T09:06:00.000Z',
          }),
          attempt({ deliveryId: 'dlv_8', eventType: 'batch.completed', batchId: 'bat_7', executionId: null, attempt: 1, statusCode: 204 }),
        ],
        nextCursor: null,
      }),
    });
    renderPage();
    const button = await screen.findByRole('button', { name: 'Deliveries of https://crm.example.com/flotilla' });
    expect(button).toHaveAttribute('aria-pressed', 'false');
    await userEvent.click(button);
    expect(button).toHaveAttribute('aria-pressed', 'true');

    const table = await screen.findByRole('table', { name: 'Deliveries of https://crm.example.com/flotilla' });
    await within(table).findByText('503');
    expect(calls.map((call) => call.path)).toContain('/v1/webhooks/whk_2/deliveries?limit=50');
    expect(calls.some((call) => call.path.startsWith('/v1/webhooks/whk_1/deliveries'))).toBe(false);

    const [, first, second, third] = within(table).getAllByRole('row');
    const cells = (row: HTMLElement | undefined) =>
      within(row ?? document.body)
        .getAllByRole('cell')
        .map((cell) => cell.textContent);
    // Time, event, batch, execution, attempt, status code, duration, outcome, error.
    expect(cells(first).slice(1, 7)).toEqual(['execution.failed', 'bat_1', 'bat_1.3', '3', '503', '42 ms']);
    expect(cells(first)[7]).toBe('Failed, given up');
    expect(cells(first)[8]).toBe('HTTP 503');
    expect(cells(second)[4]).toBe('2');
    expect(cells(second)[5]).toBe('No response');
    expect(cells(second)[7]).toMatch(/^Failed, will retryNext attempt /);
    expect(cells(second)[8]).toBe('connect ECONNREFUSED');
    expect(cells(third).slice(1, 6)).toEqual(['batch.completed', 'bat_7', '—', '1', '204']);
    expect(cells(third)[7]).toBe('Delivered');
    expect(within(table).getByRole('link', { name: 'bat_7' })).toHaveAttribute('href', '/batches/bat_7');

    await userEvent.click(screen.getByRole('button', { name: 'Deliveries of https://hooks.example.com/all' }));
    const other = await screen.findByRole('table', { name: 'Deliveries of https://hooks.example.com/all' });
    expect(await within(other).findByRole('link', { name: 'bat_other' })).toHaveAttribute('href', '/batches/bat_other');
    expect(screen.queryByRole('table', { name: 'Deliveries of https://crm.example.com/flotilla' })).not.toBeInTheDocument();
  });

  it('pages the deliveries by cursor, toward older attempts and back', async () => {
    const calls = stubFetch({
      'GET /v1/webhooks': () => ({ items: hooks, nextCursor: null }),
      'GET /v1/webhooks/whk_1/deliveries': (call) => {
        const older = call.path.includes('cursor=d2');
        return { items: [attempt({ batchId: older ? 'bat_old' : 'bat_new' })], nextCursor: older ? null : 'd2' };
      },
    });
    renderPage();
    await userEvent.click(await screen.findByRole('button', { name: 'Deliveries of https://hooks.example.com/all' }));
    await screen.findByRole('link', { name: 'bat_new' });
    expect(screen.getByRole('button', { name: 'Newer deliveries' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Older deliveries' }));
    await screen.findByRole('link', { name: 'bat_old' });
    expect(calls.map((call) => call.path)).toContain('/v1/webhooks/whk_1/deliveries?limit=50&cursor=d2');
    expect(screen.getByRole('button', { name: 'Older deliveries' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Newer deliveries' }));
    await screen.findByRole('link', { name: 'bat_new' });
  });

  it('pages the webhooks by cursor', async () => {
    const calls = stubFetch({
      'GET /v1/webhooks': (call) => {
        const second = call.path.includes('cursor=w2');
        return {
          items: [webhook({ url: second ? 'https://second.example.com' : 'https://first.example.com' })],
          nextCursor: second ? null : 'w2',
        };
      },
    });
    renderPage();
    await screen.findByText('https://first.example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    await screen.findByText('https://second.example.com');
    expect(calls.map((call) => call.path)).toContain('/v1/webhooks?limit=50&cursor=w2');
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    await waitFor(() => expect(screen.getByText('https://first.example.com')).toBeInTheDocument());
  });

  it('shows why the deliveries could not be loaded', async () => {
    stubFetch({
      'GET /v1/webhooks': () => ({ items: hooks, nextCursor: null }),
      'GET /v1/webhooks/whk_1/deliveries': () =>
        new Response(JSON.stringify({ statusCode: 404, message: 'No webhook has the id whk_1' }), {
          status: 404,
          headers: { 'content-type': 'application/json' },
        }),
    });
    renderPage();
    await userEvent.click(await screen.findByRole('button', { name: 'Deliveries of https://hooks.example.com/all' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('No webhook has the id whk_1');
  });
});
