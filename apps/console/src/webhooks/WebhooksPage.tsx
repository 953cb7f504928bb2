import { Alert, Button, Stack, Table, Text, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { apiFetch, formatError } from '../api';
import { formatTime } from '../batches/format';
import { DeliveriesTable } from './DeliveriesTable';
import type { Page, WebhookView } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

const PAGE_SIZE = 50;

const listPath = (cursor: string | null): string => {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set('cursor', cursor);
  return `/v1/webhooks?${params}`;
};

/** /webhooks: the webhooks the key's team sees, oldest registered first, and the deliveries of the one chosen. */
export function WebhooksPage() {
  const pages = useCursorPages();
  const { cursor } = pages;
  const [chosen, setChosen] = useState<WebhookView | null>(null);

  const list = useQuery({
    queryKey: ['webhooks', { cursor }],
    queryFn: ({ signal }) => apiFetch<Page<WebhookView>>(listPath(cursor), { signal }),
    placeholderData: keepPreviousData,
  });

  return (
    <Stack>
      <Title order={2}>Webhooks</Title>
      {list.isError && (
        <Alert color="red" title="The webhooks could not be loaded" style={{ whiteSpace: 'pre-line' }}>
          {formatError(list.error)}
        </Alert>
      )}
      <Table.ScrollContainer minWidth={1000}>
        <Table striped highlightOnHover verticalSpacing="xs" aria-label="Webhooks">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>URL</Table.Th>
              <Table.Th>Events</Table.Th>
              <Table.Th>Workflow</Table.Th>
              <Table.Th>Format</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>ID</Table.Th>
              <Table.Th>Deliveries</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(list.data?.items ?? []).map((webhook) => {
              const selected = chosen?.id === webhook.id;
              return (
                <Table.Tr key={webhook.id} bg={selected ? 'var(--mantine-primary-color-light)' : undefined}>
                  <Table.Td maw={320} style={{ wordBreak: 'break-all' }}>
                    {webhook.url}
                  </Table.Td>
                  <Table.Td>
                    <Stack gap={0}>
                      {webhook.events.map((event) => (
                        <Text size="sm" key={event}>
                          {event}
                        </Text>
                      ))}
                    </Stack>
                  </Table.Td>
                  <Table.Td>{webhook.workflowId ?? 'Every workflow'}</Table.Td>
                  <Table.Td>{webhook.format}</Table.Td>
                  <Table.Td>{formatTime(webhook.createdAt)}</Table.Td>
                  <Table.Td>
                    <Text size="xs">{webhook.id}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Button
                      size="compact-xs"
                      variant={selected ? 'filled' : 'default'}
                      aria-label={`Deliveries of ${webhook.url}`}
                      aria-pressed={selected}
                      onClick={() => setChosen(webhook)}
                    >
                      Deliveries
                    </Button>
                  </Table.Td>
                </Table.Tr>
              );
            })}
            <TableStateRow answer={list} columns={7} loading="Loading the webhooks" empty={<>No webhooks yet.</>} />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={list} />
      {chosen ? (
        <DeliveriesTable key={chosen.id} webhook={chosen} />
      ) : (
        <Text size="sm" c="dimmed">
          Choose a webhook&apos;s Deliveries to see its delivery attempts.
        </Text>
      )}
    </Stack>
  );
}
