import { Paper, Table, Text, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch, formatError } from '../api';
import { formatTime } from './format';
import type { HistoryEntry, Page } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

export const historyKey = (batchId: string, cursor: string | null) => ['history', batchId, cursor] as const;

/** Entries a page shows; the first page keeps this many newest as live entries come in. */
export const HISTORY_PAGE_SIZE = 50;

/** The audit trail, newest first, 50 a page; the first page also takes the live entries (see BatchDetailPage). */
export function HistoryTable({ batchId, refetchInterval }: { batchId: string; refetchInterval: number | false }) {
  const pages = useCursorPages();
  const { cursor } = pages;
  const history = useQuery({
    queryKey: historyKey(batchId, cursor),
    queryFn: ({ signal }) => {
      const params = new URLSearchParams({ order: 'desc', limit: String(HISTORY_PAGE_SIZE) });
      if (cursor) params.set('cursor', cursor);
      return apiFetch<Page<HistoryEntry>>(`/v1/batches/${encodeURIComponent(batchId)}/history?${params}`, { signal });
    },
    placeholderData: keepPreviousData,
    refetchInterval: cursor === null ? refetchInterval : false,
  });
  return (
    <Paper withBorder p="md">
      <Title order={3} size="h4" mb="xs">
        History
      </Title>
      {history.isError && <Text c="red.9">{formatError(history.error)}</Text>}
      <Table.ScrollContainer minWidth={700}>
        <Table verticalSpacing={4} aria-label="History">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Time</Table.Th>
              <Table.Th>Type</Table.Th>
              <Table.Th>Actor</Table.Th>
              <Table.Th>Reason</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(history.data?.items ?? []).map((entry) => (
              <Table.Tr key={entry.position}>
                <Table.Td>{formatTime(entry.occurredAt)}</Table.Td>
                <Table.Td>{entry.type}</Table.Td>
                <Table.Td>{entry.actor ?? '—'}</Table.Td>
                <Table.Td>{entry.reason ?? ''}</Table.Td>
              </Table.Tr>
            ))}
            <TableStateRow answer={history} columns={4} loading="Loading the history" />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={history} size="xs" back="first" labels={{ back: 'Newest', next: 'Older' }} showPage={false} />
    </Paper>
  );
}
