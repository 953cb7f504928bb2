import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { batchView } from '../../test/batches';
import { renderScreen, stubFetch } from '../../test/render';
import { BatchesPage } from './BatchesPage';

describe('BatchesPage', () => {
  it('shows one progressbar per batch, named "<name> progress", valued from the progress percent', async () => {
    stubFetch({
      'GET /v1/batches': () => ({
        items: [
          batchView(),
          batchView({ id: 'bat_2', name: 'Done run', status: 'completed', progress: { ...batchView().progress, percent: 100 } }),
        ],
        nextCursor: null,
      }),
    });
    renderScreen(<BatchesPage />);
    const bar = await screen.findByRole('progressbar', { name: 'Spring mailing progress' });
    expect(bar).toHaveAttribute('aria-valuenow', '25');
    expect(screen.getByRole('progressbar', { name: 'Done run progress' })).toHaveAttribute('aria-valuenow', '100');
    expect(screen.getAllByRole('progressbar')).toHaveLength(2);
    expect(screen.getByRole('button', { name: 'New batch' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Spring mailing' })).toHaveAttribute('href', '/batches/bat_1');
  });

  it('filters by status and pages by cursor', async () => {
    const calls = stubFetch({
      'GET /v1/batches': (call) => ({
        items: [batchView({ name: call.path.includes('cursor=c2') ? 'Second page' : 'First page' })],
        nextCursor: call.path.includes('cursor=c2') ? null : 'c2',
      }),
    });
    renderScreen(<BatchesPage />);
    await screen.findByRole('link', { name: 'First page' });
    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    await screen.findByRole('link', { name: 'Second page' });
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    await screen.findByRole('link', { name: 'First page' });
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Status' }), 'paused');
    await waitFor(() => expect(calls.some((call) => call.path.includes('status=paused'))).toBe(true));
  });

  it('pauses a running batch with a reason', async () => {
    let current = batchView();
    const calls = stubFetch({
      'GET /v1/batches': () => ({ items: [current], nextCursor: null }),
      'POST /v1/batches/bat_1/pause': () => (current = batchView({ status: 'paused' })),
    });
    renderScreen(<BatchesPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Pause Spring mailing' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'target overloaded');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await waitFor(() =>
      expect(calls).toContainEqual({ path: '/v1/batches/bat_1/pause', method: 'POST', body: { reason: 'target overloaded' } }),
    );
    await screen.findByRole('button', { name: 'Resume Spring mailing' });
  });
});
