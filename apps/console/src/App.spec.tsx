import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { getApiKey, setApiKey } from './api';
import { App } from './App';

const renderApp = () =>
  render(
    <MantineProvider>
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <MemoryRouter initialEntries={['/workflows']}>
          <App />
        </MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );

/** The API with keys on: only `Bearer good` is accepted. */
const stubAuth = () => {
  global.fetch = jest.fn(async (_input: RequestInfo | URL, init?: RequestInit) => {
    const auth = (init?.headers as Record<string, string> | undefined)?.Authorization;
    if (auth !== 'Bearer good') return new Response(JSON.stringify({ statusCode: 401, message: 'Unauthorized' }), { status: 401 });
    return new Response(JSON.stringify({ items: [], nextCursor: null }), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
};

describe('App sign-in', () => {
  afterEach(() => setApiKey(null));

  it('asks for an API key when the API answers 401, refuses a wrong one, keeps a right one and signs out', async () => {
    stubAuth();
    renderApp();
    const field = await screen.findByLabelText('API key');
    await userEvent.type(field, 'bad');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('The API key was not accepted')).toBeInTheDocument();
    await userEvent.clear(field);
    await userEvent.type(field, 'good');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    for (const name of ['Batches', 'Workflows', 'Webhooks']) expect(await screen.findByRole('link', { name })).toBeInTheDocument();
    expect(getApiKey()).toBe('good');
    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByLabelText('API key')).toBeInTheDocument();
    expect(getApiKey()).toBeNull();
  });

  it('goes straight in when the API answers without a key (AUTH=disabled)', async () => {
    global.fetch = jest.fn(
      async () =>
        new Response(JSON.stringify({ items: [], nextCursor: null }), { status: 200, headers: { 'content-type': 'application/json' } }),
    ) as typeof fetch;
    renderApp();
    expect(await screen.findByRole('link', { name: 'Batches' })).toHaveAttribute('href', '/');
    await waitFor(() => expect(screen.queryByLabelText('API key')).not.toBeInTheDocument());
    expect(screen.queryByRole('button', { name: 'Sign out' })).not.toBeInTheDocument();
  });
});
