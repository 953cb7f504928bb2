import { Badge, Button, Code, Group, NativeSelect, Paper, Table, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { apiFetch, formatError } from '../api';
import { useNotify } from '../notify';
import { ReasonModal } from './BatchBits';
import { formatTime, fromLocalInput, toLocalInput } from './format';
import { EXECUTION_FILTERS, type ExecutionView, type Page } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

const PAGE_SIZE = 50;

const shownStatus = (execution: ExecutionView): string => execution.outcome?.status ?? execution.status;
const STATUS_COLOR: Record<string, string> = { pending: 'gray', triggered: 'blue', completed: 'green', failed: 'red', cancelled: 'orange' };

const preview = (value: unknown): string => {
  const text = JSON.stringify(value) ?? '';
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
};

type Pending = { kind: 'cancel' | 'reschedule'; execution: ExecutionView };

/** The batch's executions, 50 a page by cursor (never all of them), with Cancel and Reschedule for the pending ones. */
export function ExecutionsTable({ batchId, refetchInterval }: { batchId: string; refetchInterval: number | false }) {
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [status, setStatus] = useState('');
  const pages = useCursorPages();
  const { cursor } = pages;
  const executions = useQuery({
    queryKey: ['executions', batchId, { status, cursor }],
    queryFn: ({ signal }) => {
      const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (status) params.set('status', status);
      if (cursor) params.set('cursor', cursor);
      return apiFetch<Page<ExecutionView>>(`/v1/batches/${encodeURIComponent(batchId)}/executions?${params}`, { signal });
    },
    placeholderData: keepPreviousData,
    refetchInterval,
  });

  const [pending, setPending] = useState<Pending | null>(null);
  const [newTime, setNewTime] = useState('');
  const act = useMutation({
    mutationFn: ({ kind, execution, reason, executeAt }: Pending & { reason: string; executeAt?: string }) =>
      apiFetch<ExecutionView>(`/v1/executions/${encodeURIComponent(execution.id)}/${kind}`, {
        method: 'POST',
        json: { ...(reason ? { reason } : {}), ...(executeAt ? { executeAt } : {}) },
      }),
    onSuccess: (_view, { kind, execution }) => {
      setPending(null);
      notify({ color: 'green', message: `Execution ${execution.index} ${kind === 'cancel' ? 'cancelled' : 'rescheduled'}` });
      void queryClient.invalidateQueries({ queryKey: ['executions', batchId] });
      void queryClient.invalidateQueries({ queryKey: ['batch', batchId] });
      void queryClient.invalidateQueries({ queryKey: ['history', batchId] });
      void queryClient.invalidateQueries({ queryKey: ['waves', batchId] });
    },
  });
  const open = (kind: Pending['kind'], execution: ExecutionView) => {
    act.reset();
    setNewTime(toLocalInput(execution.executeAt));
    setPending({ kind, execution });
  };

  const items = executions.data?.items ?? [];
  return (
    <Paper withBorder p="md">
      <Group justify="space-between" align="flex-end" mb="xs">
        <Title order={3} size="h4">
          Executions
        </Title>
        <NativeSelect
          label="Execution status"
          size="xs"
          value={status}
          onChange={(event) => {
            setStatus(event.currentTarget.value);
            pages.first();
          }}
          data={[{ value: '', label: 'All' }, ...EXECUTION_FILTERS.map((value) => ({ value, label: value }))]}
        />
      </Group>
      {executions.isError && <Text c="red.9">{formatError(executions.error)}</Text>}
      <Table.ScrollContainer minWidth={900}>
        <Table verticalSpacing={4} striped aria-label="Executions">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Execute at</Table.Th>
              <Table.Th>Triggered</Table.Th>
              <Table.Th>Attempts</Table.Th>
              <Table.Th>Inputs</Table.Th>
              <Table.Th>Error</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((execution) => (
              <Table.Tr key={execution.id}>
                <Table.Td>{execution.index}</Table.Td>
                <Table.Td miw={120}>
                  <Badge variant="dot" color={STATUS_COLOR[shownStatus(execution)] ?? 'gray'}>
                    {shownStatus(execution)}
                  </Badge>
                </Table.Td>
                <Table.Td>{formatTime(execution.executeAt)}</Table.Td>
                <Table.Td>{formatTime(execution.triggeredAt)}</Table.Td>
                <Table.Td>{execution.attempts}</Table.Td>
                <Table.Td>
                  <Code>{preview(execution.inputs)}</Code>
                </Table.Td>
                <Table.Td>
                  {(execution.outcome?.error ?? execution.lastError) && (
                    <Tooltip label={execution.outcome?.error ?? execution.lastError} multiline w={360}>
                      <Text size="xs" c="red.9" lineClamp={1} maw={220}>
                        {execution.outcome?.error ?? execution.lastError}
                      </Text>
                    </Tooltip>
                  )}
                </Table.Td>
                <Table.Td>
                  {execution.status === 'pending' && (
                    <Group gap={4} wrap="nowrap">
                      <Button
                        size="compact-xs"
                        variant="default"
                        aria-label={`Reschedule execution ${execution.index}`}
                        onClick={() => open('reschedule', execution)}
                      >
                        Reschedule
                      </Button>
                      <Button
                        size="compact-xs"
                        variant="outline"
                        color="red.9"
                        aria-label={`Cancel execution ${execution.index}`}
                        onClick={() => open('cancel', execution)}
                      >
                        Cancel
                      </Button>
                    </Group>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
            <TableStateRow
              answer={executions}
              columns={8}
              loading="Loading the executions"
              empty={<>No executions{status ? ` with status ${status}` : ''}.</>}
            />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={executions} size="xs" />
      <ReasonModal
        opened={pending !== null}
        title={pending ? `${pending.kind === 'cancel' ? 'Cancel' : 'Reschedule'} execution ${pending.execution.index}` : ''}
        busy={act.isPending}
        error={act.isError ? formatError(act.error) : null}
        onClose={() => setPending(null)}
        onConfirm={(reason) => {
          if (!pending) return;
          if (pending.kind === 'cancel') return act.mutate({ ...pending, reason });
          const executeAt = fromLocalInput(newTime);
          if (executeAt) act.mutate({ ...pending, reason, executeAt });
        }}
      >
        {pending?.kind === 'reschedule' && (
          <TextInput
            type="datetime-local"
            label="New time"
            required
            value={newTime}
            onChange={(event) => setNewTime(event.currentTarget.value)}
          />
        )}
      </ReasonModal>
    </Paper>
  );
}
