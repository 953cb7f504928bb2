import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, type RenderResult } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { NotificationsHost } from '../src/notify';

/** Renders a screen as the app does (Mantine, React Query, a router at `path`), for component tests. */
export const renderScreen = (element: ReactElement, { path = '/', route = '/' }: { path?: string; route?: string } = {}): RenderResult => {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <MantineProvider>
      <QueryClientProvider client={client}>
        <NotificationsHost>
          <MemoryRouter initialEntries={[path]}>
            <Routes>
              <Route path={route} element={element} />
              <Route path="*" element={<div>elsewhere</div>} />
            </Routes>
          </MemoryRouter>
        </NotificationsHost>
      </QueryClientProvider>
    </MantineProvider>,
  );
};

export interface Call {
  path: string;
  method: string;
  body: unknown;
}

/** A stub of fetch answering by `METHOD path` (the path without its query when no exact match); it records the calls. */
export const stubFetch = (routes: Record<string, (call: Call) => unknown>): Call[] => {
  const calls: Call[] = [];
  global.fetch = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof input === 'string' ? input : input instanceof URL ? input.pathname + input.search : input.url;
    const method = (init?.method ?? 'GET').toUpperCase();
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const call = { path, method, body };
    calls.push(call);
    const route = routes[`${method} ${path}`] ?? routes[`${method} ${path.split('?')[0]}`];
    if (!route) return new Response(JSON.stringify({ statusCode: 404, message: 'Not found' }), { status: 404 });
    const answer = route(call);
    if (answer instanceof Response) return answer;
    return new Response(JSON.stringify(answer), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return calls;
};

/** A Server-Sent Events answer that sends `events` and stays open (until the test ends). */
export const eventStream = (events: { event: string; data: unknown }[]): Response => {
  const text = events.map(({ event, data }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
};
