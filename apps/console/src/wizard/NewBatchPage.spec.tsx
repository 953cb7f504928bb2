import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { renderScreen, stubFetch, type Call } from '../../test/render';
import type { SavedMapping, WorkflowResponse } from '../workflows/types';
import { NewBatchPage } from './NewBatchPage';

const workflow: WorkflowResponse = {
  id: 'enrich-lead',
  version: 2,
  name: 'Enrich lead',
  inputs: [
    { name: 'email', required: true },
    { name: 'first_name', required: false },
  ],
  defaults: {},
  versions: [
    { version: 1, name: 'Enrich lead', createdAt: '2026-01-01T00:00:00.000Z' },
    { version: 2, name: 'Enrich lead', createdAt: '2026-01-02T00:00:00.000Z' },
  ],
  held: null,
};

const routes = (saved: SavedMapping[] = []): Record<string, (call: Call) => unknown> => ({
  'GET /v1/workflows': () => ({ items: [workflow], nextCursor: null }),
  'GET /v1/workflows/enrich-lead/mappings': () => ({ items: saved }),
  'PUT /v1/workflows/enrich-lead/mappings': (call) => ({ ...(call.body as object), savedAt: '2026-02-01T00:00:00.000Z', savedBy: 'ops' }),
  'POST /v1/batches/preview': () => ({
    columns: ['Email', 'First Name', 'Note'],
    mapping: {},
    mappingErrors: [],
    rows: [
      { index: 0, inputs: { email: 'ann@example.com' }, profile: null, metadata: {}, valid: true, errors: [] },
      {
        index: 1,
        inputs: { email: '' },
        profile: null,
        metadata: {},
        valid: false,
        errors: [{ code: 'required_input_empty', row: 2, message: 'Row 2: required input "email" is empty' }],
      },
    ],
    totalRows: 2,
    validRows: 1,
    invalidRows: 1,
  }),
});

const csv = (text: string, name = 'leads.csv') => new File([text], name, { type: 'text/csv' });

/** Chooses the file in step 1 and goes on to the mapping step. */
const toMapping = async (file: File) => {
  renderScreen(<NewBatchPage />);
  await waitFor(() => expect(screen.getByLabelText('Workflow')).toHaveValue('enrich-lead'));
  const input = screen.getByLabelText('CSV file');
  expect(input).toHaveAttribute('type', 'file');
  await userEvent.upload(input, file);
  await screen.findByText(/columns, \d+ rows/);
  await userEvent.click(screen.getByRole('button', { name: 'Next' }));
  await screen.findByRole('heading', { name: 'Map columns' });
};

describe('NewBatchPage, the mapping step', () => {
  it('auto-maps an exact header to its input and skips the others', async () => {
    stubFetch(routes());
    await toMapping(csv('email,First Name,Note\nann@example.com,Ann,hi\n'));
    expect(screen.getByLabelText('email')).toHaveValue('input:email');
    expect(screen.getByLabelText('First Name')).toHaveValue('input:first_name');
    expect(screen.getByLabelText('Note')).toHaveValue('skip');
    expect(screen.getByRole('button', { name: 'Next' })).toBeEnabled();
  });

  it('shows the key field "<header> metadata key" for a Metadata column, defaulting to the normalized header', async () => {
    stubFetch(routes());
    await toMapping(csv('Email,Lead Source\nann@example.com,web\n'));
    const select = screen.getByLabelText('Lead Source');
    expect([...(select as HTMLSelectElement).options].some((option) => option.text.includes('Metadata'))).toBe(true);
    expect(screen.queryByLabelText('Lead Source metadata key')).not.toBeInTheDocument();
    await userEvent.selectOptions(select, 'metadata');
    const key = screen.getByLabelText('Lead Source metadata key');
    expect(key).toHaveValue('lead_source');
    await userEvent.clear(key);
    expect(await screen.findByText('Column "Lead Source" maps to metadata but has no key')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
  });

  it('shows the errors of an invalid mapping and disables Next: a required input unmapped, two columns on one input', async () => {
    stubFetch(routes());
    await toMapping(csv('Email,Mail\nann@example.com,a@b.c\n'));
    await userEvent.selectOptions(screen.getByLabelText('Email'), 'skip');
    expect(await screen.findByText('Required input "email" is not mapped to any column')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    await userEvent.selectOptions(screen.getByLabelText('Email'), 'input:email');
    await userEvent.selectOptions(screen.getByLabelText('Mail'), 'input:email');
    expect(await screen.findByText('Columns "Email" and "Mail" both map to input "email"')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    await userEvent.selectOptions(screen.getByLabelText('Mail'), 'skip');
    await waitFor(() => expect(screen.getByRole('button', { name: 'Next' })).toBeEnabled());
  });

  it('restores the mapping saved for the same set of headers in another order, and saves it again on Next', async () => {
    const calls = stubFetch(
      routes([
        {
          headers: ['Email', 'Note', 'Who'],
          mapping: {
            Who: { type: 'input', field: 'first_name' },
            Note: { type: 'metadata', key: 'remark' },
            Email: { type: 'input', field: 'email' },
          },
          savedAt: '2026-01-05T10:00:00.000Z',
          savedBy: 'ops',
        },
      ]),
    );
    await toMapping(csv('Who,Email,Note\nAnn,ann@example.com,hi\n'));
    expect(screen.getByText(/Restored the mapping saved/)).toBeInTheDocument();
    expect(screen.getByLabelText('Who')).toHaveValue('input:first_name');
    expect(screen.getByLabelText('Note')).toHaveValue('metadata');
    expect(screen.getByLabelText('Note metadata key')).toHaveValue('remark');
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByRole('heading', { name: 'Preview' });
    expect(calls).toContainEqual({
      path: '/v1/workflows/enrich-lead/mappings',
      method: 'PUT',
      body: {
        headers: ['Who', 'Email', 'Note'],
        mapping: {
          Who: { type: 'input', field: 'first_name' },
          Email: { type: 'input', field: 'email' },
          Note: { type: 'metadata', key: 'remark' },
        },
      },
    });
    expect(await screen.findByText('1 valid')).toBeInTheDocument();
    expect(screen.getByText('1 invalid')).toBeInTheDocument();
    expect(screen.getByText('Row 2: required input "email" is empty')).toBeInTheDocument();
  });

  it('reports rows whose column count differs from the header, by row number', async () => {
    stubFetch(routes());
    renderScreen(<NewBatchPage />);
    await waitFor(() => expect(screen.getByLabelText('Workflow')).toHaveValue('enrich-lead'));
    await userEvent.upload(screen.getByLabelText('CSV file'), csv('Email,Note\na@b.c,x\nb@c.d\n\nc@d.e,y,z\n'));
    expect(await screen.findByText('Row 2 has 1 column; the header has 2')).toBeInTheDocument();
    expect(screen.getByText('Row 3 has 3 columns; the header has 2')).toBeInTheDocument();
    expect(screen.getByText(/2 columns, 3 rows/)).toBeInTheDocument();
  });
});

describe('NewBatchPage, Configure', () => {
  const plan = (waves: number) => ({
    total: 2,
    validItems: 2,
    invalidItems: 0,
    errors: [],
    waves,
    startAt: '2026-03-01T09:00:00.000Z',
    planEndsAt: '2026-03-01T09:01:00.000Z',
    estimatedDurationSeconds: 60,
    estimatedCost: { amount: 0.2, currency: 'USD' },
  });

  it('from a pasted JSON array: skips the mapping, plans as the fields change, and starts the batch', async () => {
    const calls = stubFetch({
      ...routes(),
      'POST /v1/batches/plan': (call) => plan(Math.ceil(2 / Number((call.body as { maxConcurrent: number }).maxConcurrent))),
      'POST /v1/batches': () => ({ id: 'bat_9', status: 'running', total: 2 }),
    });
    renderScreen(<NewBatchPage />, { route: '/batches/new', path: '/batches/new' });
    await waitFor(() => expect(screen.getByLabelText('Workflow')).toHaveValue('enrich-lead'));
    await userEvent.click(screen.getByRole('tab', { name: 'JSON array' }));
    const items = screen.getByLabelText('Items (JSON array)');
    await userEvent.click(items);
    await userEvent.paste('[{"inputs":{"email":"a@b.c"}},{"inputs":{"email":"b@c.d"},"profile":"p1"}]');
    expect(await screen.findByText('2 items')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByRole('heading', { name: 'Configure' });
    for (const label of [
      'Batch name',
      'Workflow version',
      'Default profile',
      'Start time',
      'Max concurrent',
      'Batch interval (seconds)',
      'Priority',
    ])
      expect(screen.getByLabelText(label)).toBeInTheDocument();
    expect(screen.getByLabelText('Start time')).toHaveAttribute('type', 'datetime-local');
    expect(await screen.findByText('1 waves', {}, { timeout: 3000 })).toBeInTheDocument();
    expect(screen.getByText(/0\.2 USD/)).toBeInTheDocument();
    const max = screen.getByLabelText('Max concurrent');
    await userEvent.clear(max);
    await userEvent.type(max, '1');
    expect(await screen.findByText('2 waves', {}, { timeout: 3000 })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Start batch' }));
    await screen.findByText('elsewhere');
    const created = calls.find((call) => call.method === 'POST' && call.path === '/v1/batches');
    expect(created?.body).toMatchObject({
      workflowId: 'enrich-lead',
      workflowVersion: 2,
      maxConcurrent: 1,
      items: [{}, { profile: 'p1' }],
    });
  });

  it('shows the fields the API refuses next to them', async () => {
    stubFetch({
      ...routes(),
      'POST /v1/batches/plan': () =>
        new Response(
          JSON.stringify({
            statusCode: 422,
            message: 'Invalid batch settings',
            details: [{ field: 'maxConcurrent', message: 'maxConcurrent must be from 1 to 10000' }],
          }),
          { status: 422, headers: { 'content-type': 'application/json' } },
        ),
    });
    renderScreen(<NewBatchPage />);
    await waitFor(() => expect(screen.getByLabelText('Workflow')).toHaveValue('enrich-lead'));
    await userEvent.click(screen.getByRole('tab', { name: 'JSON array' }));
    await userEvent.click(screen.getByLabelText('Items (JSON array)'));
    await userEvent.paste('[{"inputs":{"email":"a@b.c"}}]');
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    expect((await screen.findAllByText(/maxConcurrent must be from 1 to 10000/, {}, { timeout: 3000 })).length).toBeGreaterThanOrEqual(2);
  });
});
