import { Alert, Anchor, Button, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { apiFetch, formatError } from '../api';
import { ACTION_LABEL, BatchProgressBar, ReasonModal, StatusBadge, useBatchAction, useStoreBatch, type BatchAction } from './BatchBits';
import { formatCount, formatShortTime, formatTime } from './format';
import { FALLBACK_REFETCH_MS, useEventStream, useThrottled } from './live';
import { BATCH_STATUSES, canCancel, canPause, canResume, type BatchStatus, type BatchView, type Page } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

const PAGE_SIZE = 50;
/** While the summary stream is up, changes refetch the list at most this often. */
const LIST_REFETCH_MS = 5000;

const listPath = (status: string, workflowId: string, cursor: string | null): string => {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set('cursor', cursor);
  if (status) params.set('status', status);
  if (workflowId) params.set('workflowId', workflowId);
  return `/v1/batches?${params}`;
};

export function BatchesPage() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const storeBatch = useStoreBatch();
  const [status, setStatus] = useState('');
  const [workflowInput, setWorkflowInput] = useState('');
  const [workflowId] = useDebouncedValue(workflowInput.trim(), 300);
  const pages = useCursorPages();
  const { cursor } = pages;

  const refetchList = useThrottled(() => void queryClient.invalidateQueries({ queryKey: ['batches'] }), LIST_REFETCH_MS);
  const live = useEventStream('/v1/batches/events', {
    batch: (data) => {
      if (data && typeof data === 'object' && 'id' in data && 'progress' in data) storeBatch(data as BatchView);
      refetchList();
    },
  });

  const list = useQuery({
    queryKey: ['batches', { status, workflowId, cursor }],
    queryFn: ({ signal }) => apiFetch<Page<BatchView>>(listPath(status, workflowId, cursor), { signal }),
    placeholderData: keepPreviousData,
    refetchInterval: live ? false : FALLBACK_REFETCH_MS,
  });

  const resetPaging = () => pages.first();
  const [pending, setPending] = useState<{ batch: BatchView; action: BatchAction } | null>(null);
  const action = useBatchAction(() => setPending(null));
  const resetAction = action.reset;
  const openAction = useCallback(
    (batch: BatchView, kind: BatchAction) => {
      resetAction();
      setPending({ batch, action: kind });
    },
    [resetAction],
  );

  const rows = useMemo(
    () => (list.data?.items ?? []).map((batch) => <BatchRow key={batch.id} batch={batch} onAction={openAction} />),
    [list.data, openAction],
  );

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Batches</Title>
        <Button onClick={() => navigate('/batches/new')}>New batch</Button>
      </Group>
      <Group align="flex-end">
        <NativeSelect
          label="Status"
          value={status}
          onChange={(event) => {
            setStatus(event.currentTarget.value as BatchStatus | '');
            resetPaging();
          }}
          data={[{ value: '', label: 'All statuses' }, ...BATCH_STATUSES.map((value) => ({ value, label: value }))]}
        />
        <TextInput
          label="Workflow ID"
          placeholder="Any workflow"
          value={workflowInput}
          onChange={(event) => {
            setWorkflowInput(event.currentTarget.value);
            resetPaging();
          }}
        />
        <Text size="xs" c="dimmed" aria-live="polite">
          {live ? 'Live' : 'Refreshing every 5 s'}
        </Text>
      </Group>
      {list.isError && (
        <Alert color="red" title="The batches could not be loaded" style={{ whiteSpace: 'pre-line' }}>
          {formatError(list.error)}
        </Alert>
      )}
      <Table.ScrollContainer minWidth={1150}>
        <Table striped highlightOnHover verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Workflow</Table.Th>
              <Table.Th miw={160}>Progress</Table.Th>
              <Table.Th>Completed</Table.Th>
              <Table.Th>Failed</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>Started</Table.Th>
              <Table.Th>ETA</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows}
            <TableStateRow
              answer={list}
              columns={10}
              loading="Loading the batches"
              empty={<>No batches{status || workflowId ? ' match the filters' : ' yet'}.</>}
            />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={list} />
      <ReasonModal
        opened={pending !== null}
        title={pending ? `${ACTION_LABEL[pending.action]} ${pending.batch.name}` : ''}
        busy={action.isPending}
        error={action.isError ? formatError(action.error) : null}
        onClose={() => setPending(null)}
        onConfirm={(reason) => {
          if (pending) action.mutate({ id: pending.batch.id, action: pending.action, reason: reason || undefined });
        }}
      />
    </Stack>
  );
}

function BatchRow({ batch, onAction }: { batch: BatchView; onAction: (batch: BatchView, action: BatchAction) => void }) {
  const { progress } = batch;
  return (
    <Table.Tr>
      <Table.Td miw={180}>
        <Anchor component={Link} to={`/batches/${encodeURIComponent(batch.id)}`}>
          {batch.name}
        </Anchor>
      </Table.Td>
      <Table.Td miw={130}>
        <StatusBadge status={batch.status} />
      </Table.Td>
      <Table.Td style={{ whiteSpace: 'nowrap' }}>
        <Text size="sm">
          {batch.workflowId} v{batch.workflowVersion}
        </Text>
      </Table.Td>
      <Table.Td>
        <BatchProgressBar batch={batch} />
        <Text size="xs" c="dimmed">
          {formatCount(progress.triggered)} / {formatCount(progress.total)} ({progress.percent}%)
        </Text>
      </Table.Td>
      <Table.Td>{formatCount(progress.completed)}</Table.Td>
      <Table.Td>{formatCount(progress.failed)}</Table.Td>
      {/* One line each: a row of wrapped dates is three times as tall. */}
      <Table.Td style={{ whiteSpace: 'nowrap' }} title={formatTime(batch.createdAt)}>
        {formatShortTime(batch.createdAt)}
      </Table.Td>
      <Table.Td style={{ whiteSpace: 'nowrap' }} title={formatTime(batch.startedAt)}>
        {formatShortTime(batch.startedAt)}
      </Table.Td>
      <Table.Td style={{ whiteSpace: 'nowrap' }} title={formatTime(batch.estimatedCompletionAt)}>
        {formatShortTime(batch.estimatedCompletionAt)}
      </Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          {canPause(batch.status) && (
            <Button size="compact-xs" variant="default" aria-label={`Pause ${batch.name}`} onClick={() => onAction(batch, 'pause')}>
              Pause
            </Button>
          )}
          {canResume(batch.status) && (
            <Button size="compact-xs" variant="default" aria-label={`Resume ${batch.name}`} onClick={() => onAction(batch, 'resume')}>
              Resume
            </Button>
          )}
          {canCancel(batch.status) && (
            <Button
              size="compact-xs"
              variant="outline"
              color="red.9"
              aria-label={`Cancel ${batch.name}`}
              onClick={() => onAction(batch, 'cancel')}
            >
              Cancel
            </Button>
          )}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}
