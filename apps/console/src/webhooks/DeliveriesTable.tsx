import { Anchor, Badge, Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { apiFetch, formatError } from '../api';
import { formatTime } from '../batches/format';
import type { DeliveryAttempt, Page, WebhookView } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

const PAGE_SIZE = 50;

const deliveriesPath = (webhookId: string, cursor: string | null): string => {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set('cursor', cursor);
  return `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries?${params}`;
};

function Outcome({ attempt }: { attempt: DeliveryAttempt }) {
  if (attempt.delivered) {
    return (
      <Badge color="green" variant="dot">
        Delivered
      </Badge>
    );
  }
  return (
    <Stack gap={2}>
      <Badge color={attempt.nextAttemptAt ? 'yellow' : 'red'} variant="dot">
        {attempt.nextAttemptAt ? 'Failed, will retry' : 'Failed, given up'}
      </Badge>
      {attempt.nextAttemptAt && (
        <Text size="xs" c="dimmed">
          Next attempt {formatTime(attempt.nextAttemptAt)}
        </Text>
      )}
    </Stack>
  );
}

/** The delivery attempts of one webhook, newest first, 50 a page (the route pages by cursor toward older attempts). */
export function DeliveriesTable({ webhook }: { webhook: WebhookView }) {
  const pages = useCursorPages();
  const { cursor } = pages;
  const deliveries = useQuery({
    queryKey: ['webhook-deliveries', webhook.id, cursor],
    queryFn: ({ signal }) => apiFetch<Page<DeliveryAttempt>>(deliveriesPath(webhook.id, cursor), { signal }),
    placeholderData: keepPreviousData,
  });
  const title = `Deliveries of ${webhook.url}`;
  return (
    <Paper withBorder p="md">
      <Group justify="space-between" mb="xs">
        <Title order={3} size="h4" style={{ wordBreak: 'break-all' }}>
          {title}
        </Title>
        <Button variant="default" size="xs" loading={deliveries.isFetching} onClick={() => void deliveries.refetch()}>
          Refresh
        </Button>
      </Group>
      {deliveries.isError && (
        <Text c="red.9" role="alert" style={{ whiteSpace: 'pre-line' }}>
          {formatError(deliveries.error)}
        </Text>
      )}
      <Table.ScrollContainer minWidth={1000}>
        <Table verticalSpacing={4} striped aria-label={title}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Time</Table.Th>
              <Table.Th>Event</Table.Th>
              <Table.Th>Batch</Table.Th>
              <Table.Th>Execution</Table.Th>
              <Table.Th>Attempt</Table.Th>
              <Table.Th>Status code</Table.Th>
              <Table.Th>Duration</Table.Th>
              <Table.Th>Outcome</Table.Th>
              <Table.Th>Error</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(deliveries.data?.items ?? []).map((attempt) => (
              <Table.Tr key={`${attempt.deliveryId}/${attempt.attempt}`}>
                <Table.Td>{formatTime(attempt.occurredAt)}</Table.Td>
                <Table.Td>{attempt.eventType}</Table.Td>
                <Table.Td>
                  <Anchor component={Link} to={`/batches/${encodeURIComponent(attempt.batchId)}`}>
                    {attempt.batchId}
                  </Anchor>
                </Table.Td>
                <Table.Td>{attempt.executionId ?? '—'}</Table.Td>
                <Table.Td>{attempt.attempt}</Table.Td>
                <Table.Td>{attempt.statusCode ?? 'No response'}</Table.Td>
                <Table.Td>{attempt.durationMs} ms</Table.Td>
                <Table.Td>
                  <Outcome attempt={attempt} />
                </Table.Td>
                <Table.Td maw={320} style={{ wordBreak: 'break-word' }}>
                  {attempt.error ?? ''}
                </Table.Td>
              </Table.Tr>
            ))}
            <TableStateRow
              answer={deliveries}
              columns={9}
              loading="Loading the deliveries"
              empty={<>No deliveries{pages.page > 1 ? ' on this page' : ' yet'}.</>}
            />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={deliveries} size="xs" labels={{ back: 'Newer deliveries', next: 'Older deliveries' }} />
    </Paper>
  );
}
