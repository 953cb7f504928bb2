import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderScreen, stubFetch, type Call } from '../../test/render';
import type { SavedMappings, WorkflowResponse } from './types';
import { WorkflowsPage } from './WorkflowsPage';

const workflow = (overrides: Partial<WorkflowResponse> = {}): WorkflowResponse => ({
  id: 'wf_mail',
  version: 2,
  name: 'Send mail',
  inputs: [
    { name: 'email', required: true },
    { name: 'first_name', required: false },
  ],
  target: { url: 'https://mailer.example.com/run', timeoutMs: 30000, mode: 'sync', callbackTimeoutMs: 3600000 },
  retry: { maxAttempts: 3, backoffMs: 1000, maxThrottleSeconds: 600 },
  limits: { maxInFlight: 10, maxPerSecond: 5 },
  cost: null,
  defaults: {},
  createdAt: '2026-11-02T10:00:00.000Z',
  versions: [
    { version: 1, name: 'Send mail (first)', createdAt: '2026-11-01T10:00:00.000Z' },
    { version: 2, name: 'Send mail', createdAt: '2026-11-02T10:00:00.000Z' },
  ],
  held: null,
  ...overrides,
});

const held = { since: '2026-12-01T09:00:00.000Z', reason: 'mailer maintenance', actor: 'ops/alice' };

const renderList = () => renderScreen(<WorkflowsPage />, { path: '/workflows', route: '/workflows/*' });

/** The table row of the workflow whose id link is `id`. */
const rowOf = (id: string): HTMLElement => {
  const row = screen.getByRole('link', { name: id }).closest('tr');
  if (!(row instanceof HTMLElement)) throw new Error(`No row for ${id}`);
  return row;
};

const listCallsAfter = (calls: Call[], path: string): Call[] => {
  const at = calls.findIndex((call) => call.path === path);
  return at < 0 ? [] : calls.slice(at + 1).filter((call) => call.method === 'GET' && call.path.startsWith('/v1/workflows?'));
};

describe('WorkflowsPage', () => {
  it('lists the workflows with their version, inputs, limits, target and hold', async () => {
    const calls = stubFetch({
      'GET /v1/workflows': () => ({
        items: [
          workflow(),
          workflow({
            id: 'wf_sms',
            name: 'Send SMS',
            version: 1,
            inputs: [{ name: 'phone', required: true }],
            limits: {},
            target: { url: 'https://sms.example.com/hook', timeoutMs: 1000, mode: 'async', callbackTimeoutMs: 60000 },
            held,
          }),
        ],
        nextCursor: null,
      }),
    });
    renderList();
    expect(screen.getByRole('heading', { level: 2, name: 'Workflows' })).toBeInTheDocument();
    expect(screen.getByLabelText('Loading the workflows')).toBeInTheDocument();
    await screen.findByRole('link', { name: 'wf_mail' });
    expect(calls[0]?.path).toBe('/v1/workflows?limit=50');
    expect(screen.getByRole('table', { name: 'Workflows' })).toBeInTheDocument();

    const mail = within(rowOf('wf_mail'));
    expect(screen.getByRole('link', { name: 'wf_mail' })).toHaveAttribute('href', '/workflows/wf_mail');
    expect(mail.getByText('Send mail')).toBeInTheDocument();
    expect(mail.getByText('v2')).toBeInTheDocument();
    expect(mail.getByText('email (required)')).toBeInTheDocument();
    expect(mail.getByText('first_name')).toBeInTheDocument();
    expect(mail.getByText('maxInFlight 10')).toBeInTheDocument();
    expect(mail.getByText('maxPerSecond 5')).toBeInTheDocument();
    expect(mail.getByText('https://mailer.example.com/run')).toBeInTheDocument();
    expect(mail.getByText('sync')).toBeInTheDocument();
    expect(mail.queryByText('Held')).not.toBeInTheDocument();
    expect(mail.getByRole('button', { name: 'Hold wf_mail' })).toBeInTheDocument();

    const sms = within(rowOf('wf_sms'));
    expect(sms.getByText('v1')).toBeInTheDocument();
    expect(sms.getByText('phone (required)')).toBeInTheDocument();
    expect(sms.getByText('Executor default')).toBeInTheDocument();
    expect(sms.getByText('async')).toBeInTheDocument();
    expect(sms.getByText('Held')).toBeInTheDocument();
    expect(sms.getByText('mailer maintenance')).toBeInTheDocument();
    expect(sms.getByText(/by ops\/alice/)).toBeInTheDocument();
    expect(sms.getByRole('button', { name: 'Release wf_sms' })).toBeInTheDocument();
    expect(sms.queryByRole('button', { name: 'Hold wf_sms' })).not.toBeInTheDocument();
  });

  it('holds a workflow with the reason typed, then shows it held after the refetch', async () => {
    let current = workflow();
    const calls = stubFetch({
      'GET /v1/workflows': () => ({ items: [current], nextCursor: null }),
      'POST /v1/workflows/wf_mail/hold': () => (current = workflow({ held: { ...held, reason: 'mailer down' } })),
    });
    renderList();
    await userEvent.click(await screen.findByRole('button', { name: 'Hold wf_mail' }));
    const dialog = await screen.findByRole('dialog', { name: 'Hold wf_mail' });
    await userEvent.type(within(dialog).getByLabelText('Reason'), '  mailer down ');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));

    await waitFor(() =>
      expect(calls).toContainEqual({ path: '/v1/workflows/wf_mail/hold', method: 'POST', body: { reason: 'mailer down' } }),
    );
    await waitFor(() => expect(listCallsAfter(calls, '/v1/workflows/wf_mail/hold').length).toBeGreaterThan(0));
    const row = within(rowOf('wf_mail'));
    expect(await row.findByRole('button', { name: 'Release wf_mail' })).toBeInTheDocument();
    expect(row.getByText('Held')).toBeInTheDocument();
    expect(row.getByText('mailer down')).toBeInTheDocument();
    expect(await screen.findByText('Held: wf_mail')).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
  });

  it('releases a held workflow with the reason typed', async () => {
    let current = workflow({ held });
    const calls = stubFetch({
      'GET /v1/workflows': () => ({ items: [current], nextCursor: null }),
      'POST /v1/workflows/wf_mail/release': () => (current = workflow()),
    });
    renderList();
    await userEvent.click(await screen.findByRole('button', { name: 'Release wf_mail' }));
    const dialog = await screen.findByRole('dialog', { name: 'Release wf_mail' });
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'maintenance over');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));

    await waitFor(() =>
      expect(calls).toContainEqual({ path: '/v1/workflows/wf_mail/release', method: 'POST', body: { reason: 'maintenance over' } }),
    );
    await waitFor(() => expect(listCallsAfter(calls, '/v1/workflows/wf_mail/release').length).toBeGreaterThan(0));
    const row = within(rowOf('wf_mail'));
    expect(await row.findByRole('button', { name: 'Hold wf_mail' })).toBeInTheDocument();
    expect(row.queryByText('Held')).not.toBeInTheDocument();
    expect(await screen.findByText('Released: wf_mail')).toBeInTheDocument();
  });

  it("shows the API's refusal (409) in the dialog and keeps it open", async () => {
    stubFetch({
      'GET /v1/workflows': () => ({ items: [workflow()], nextCursor: null }),
      'POST /v1/workflows/wf_mail/hold': () =>
        new Response(JSON.stringify({ statusCode: 409, error: 'Conflict', message: 'Workflow wf_mail is already held' }), {
          status: 409,
          headers: { 'content-type': 'application/json' },
        }),
    });
    renderList();
    await userEvent.click(await screen.findByRole('button', { name: 'Hold wf_mail' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'again');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await within(dialog).findByRole('alert')).toHaveTextContent('Workflow wf_mail is already held');
    expect(screen.getByRole('dialog')).toBeInTheDocument();
    expect(within(rowOf('wf_mail')).getByRole('button', { name: 'Hold wf_mail' })).toBeInTheDocument();
  });

  it('sends nothing without a reason', async () => {
    const calls = stubFetch({ 'GET /v1/workflows': () => ({ items: [workflow()], nextCursor: null }) });
    renderList();
    await userEvent.click(await screen.findByRole('button', { name: 'Hold wf_mail' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), '   ');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await within(dialog).findByText('Enter a reason')).toBeInTheDocument();
    expect(calls.filter((call) => call.method === 'POST')).toEqual([]);
  });

  it('pages by cursor', async () => {
    const calls = stubFetch({
      'GET /v1/workflows': (call) => {
        const second = call.path.includes('cursor=c2');
        return { items: [workflow({ id: second ? 'wf_second' : 'wf_first' })], nextCursor: second ? null : 'c2' };
      },
    });
    renderList();
    await screen.findByRole('link', { name: 'wf_first' });
    expect(screen.getByRole('button', { name: 'Previous page' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    await screen.findByRole('link', { name: 'wf_second' });
    expect(calls.map((call) => call.path)).toContain('/v1/workflows?limit=50&cursor=c2');
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    await screen.findByRole('link', { name: 'wf_first' });
  });

  it("opens a workflow's versions and saved column mappings", async () => {
    const mappings: SavedMappings = {
      items: [
        {
          headers: ['Email', 'Name', 'Segment'],
          mapping: {
            Email: { type: 'input', field: 'email' },
            Name: { type: 'input', field: 'first_name' },
            Segment: { type: 'metadata', key: 'segment' },
          },
          savedAt: '2026-11-20T08:00:00.000Z',
          savedBy: 'ops/bob',
        },
      ],
    };
    const calls = stubFetch({
      'GET /v1/workflows': () => ({ items: [workflow()], nextCursor: null }),
      'GET /v1/workflows/wf_mail': () => workflow(),
      'GET /v1/workflows/wf_mail/mappings': () => mappings,
    });
    renderList();
    await userEvent.click(await screen.findByRole('link', { name: 'wf_mail' }));
    expect(await screen.findByRole('heading', { level: 2, name: 'Send mail' })).toBeInTheDocument();

    const versions = within(screen.getByRole('table', { name: 'Versions' }));
    const versionRows = versions.getAllByRole('row');
    expect(versionRows).toHaveLength(3);
    expect(within(versionRows[1] ?? document.body).getByText('v2')).toBeInTheDocument();
    expect(within(versionRows[2] ?? document.body).getByText('Send mail (first)')).toBeInTheDocument();

    const saved = within(await screen.findByRole('table', { name: 'Saved column mappings' }));
    expect(await saved.findByText('Email, Name, Segment')).toBeInTheDocument();
    expect(saved.getByText('Email → input email')).toBeInTheDocument();
    expect(saved.getByText('Segment → metadata segment')).toBeInTheDocument();
    expect(saved.getByText('ops/bob')).toBeInTheDocument();
    expect(calls.map((call) => call.path)).toEqual(expect.arrayContaining(['/v1/workflows/wf_mail', '/v1/workflows/wf_mail/mappings']));
    expect(screen.getByRole('button', { name: 'Hold wf_mail' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Back to the workflows' })).toHaveAttribute('href', '/workflows');
  });

  it('holds from the detail view', async () => {
    let current = workflow();
    const calls = stubFetch({
      'GET /v1/workflows/wf_mail': () => current,
      'GET /v1/workflows/wf_mail/mappings': () => ({ items: [] }),
      'POST /v1/workflows/wf_mail/hold': () => (current = workflow({ held: { ...held, reason: 'deploy' } })),
    });
    renderScreen(<WorkflowsPage />, { path: '/workflows/wf_mail', route: '/workflows/*' });
    expect(await screen.findByText(/No mapping saved yet/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Hold wf_mail' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'deploy');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await waitFor(() => expect(calls).toContainEqual({ path: '/v1/workflows/wf_mail/hold', method: 'POST', body: { reason: 'deploy' } }));
    expect(await screen.findByRole('button', { name: 'Release wf_mail' })).toBeInTheDocument();
    expect(screen.getByText('Held')).toBeInTheDocument();
  });
});
