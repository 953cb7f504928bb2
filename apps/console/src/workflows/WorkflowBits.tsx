import { MAX_HOLD_REASON_LENGTH } from '@flotilla/domain';
import { Badge, Stack, Text } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { apiFetch, formatError } from '../api';
import { formatTime } from '../batches/format';
import { ReasonModal } from '../batches/BatchBits';
import { useNotify } from '../notify';
import type { Page, WorkflowHold, WorkflowResponse } from './types';

export type HoldAction = 'hold' | 'release';
export const HOLD_LABEL: Record<HoldAction, string> = { hold: 'Hold', release: 'Release' };
const DONE_LABEL: Record<HoldAction, string> = { hold: 'Held', release: 'Released' };

export const workflowLink = (id: string): string => `/workflows/${encodeURIComponent(id)}`;

export const workflowKey = (id: string) => ['workflow', id] as const;

/** The action a workflow's button offers: release when held, hold otherwise. */
export const holdActionOf = (workflow: Pick<WorkflowResponse, 'held'>): HoldAction => (workflow.held ? 'release' : 'hold');

/** "Held" with its reason, who held it and since when; nothing when not held. */
export function HeldBadge({ held }: { held: WorkflowHold | null }) {
  if (!held) return null;
  return (
    <Stack gap={2}>
      <Badge color="yellow" variant="dot">
        Held
      </Badge>
      <Text size="xs">{held.reason}</Text>
      <Text size="xs" c="dimmed">
        by {held.actor}, {formatTime(held.since)}
      </Text>
    </Stack>
  );
}

/** POST /v1/workflows/:id/hold|release with { reason }: the answer replaces the workflow everywhere, then the lists refetch. */
export const useHoldAction = (onDone?: () => void) => {
  const queryClient = useQueryClient();
  const notify = useNotify();
  return useMutation({
    mutationFn: ({ id, action, reason }: { id: string; action: HoldAction; reason: string }) =>
      apiFetch<WorkflowResponse>(`/v1/workflows/${encodeURIComponent(id)}/${action}`, { method: 'POST', json: { reason } }),
    onSuccess: (view, { id, action }) => {
      if (view && typeof view === 'object' && 'id' in view) {
        queryClient.setQueryData(workflowKey(view.id), view);
        queryClient.setQueriesData<Page<WorkflowResponse>>({ queryKey: ['workflows'] }, (page) =>
          page ? { ...page, items: page.items.map((item) => (item.id === view.id ? view : item)) } : page,
        );
      }
      void queryClient.invalidateQueries({ queryKey: ['workflows'] });
      void queryClient.invalidateQueries({ queryKey: workflowKey(id) });
      notify({ color: 'green', message: `${DONE_LABEL[action]}: ${id}` });
      onDone?.();
    },
  });
};

export interface HoldTarget {
  id: string;
  action: HoldAction;
}

/** The dialog of a hold or a release: a reason is required; the API's refusal (409 already held / not held, 422 …) shows inside it. */
export function HoldDialog({ target, opened, onClose }: { target: HoldTarget | null; opened: boolean; onClose: () => void }) {
  const mutation = useHoldAction(onClose);
  const { reset } = mutation;
  // A refusal belongs to the opening it answered.
  useEffect(() => {
    if (opened) reset();
  }, [opened, reset]);
  return (
    <ReasonModal
      opened={opened}
      title={target ? `${HOLD_LABEL[target.action]} ${target.id}` : ''}
      description={
        target?.action === 'hold'
          ? 'While the workflow is held, none of its executions is called, whatever batch they belong to; calls in flight finish.'
          : 'Its batches go on: the pending executions of the running ones are re-planned from now.'
      }
      required
      maxLength={MAX_HOLD_REASON_LENGTH}
      busy={mutation.isPending}
      error={mutation.isError ? formatError(mutation.error) : null}
      onClose={onClose}
      onConfirm={(reason) => target && mutation.mutate({ id: target.id, action: target.action, reason })}
      onEdit={() => mutation.isError && reset()}
    />
  );
}

/** The state of a page's hold dialog: which workflow, which action, open or closing. */
export const useHoldDialog = () => {
  const [target, setTarget] = useState<HoldTarget | null>(null);
  const [opened, setOpened] = useState(false);
  const open = (workflow: Pick<WorkflowResponse, 'id' | 'held'>) => {
    setTarget({ id: workflow.id, action: holdActionOf(workflow) });
    setOpened(true);
  };
  const dialog = { target, opened, onClose: () => setOpened(false) };
  return { open, dialog };
};

/** Inputs by name, the required ones marked "(required)". */
export function InputsList({ inputs }: { inputs: WorkflowResponse['inputs'] }) {
  if (inputs.length === 0) return <Text size="sm">None</Text>;
  return (
    <Stack gap={0}>
      {inputs.map((input) => (
        <Text size="sm" key={input.name}>
          {input.name}
          {input.required ? ' (required)' : ''}
        </Text>
      ))}
    </Stack>
  );
}

/** maxInFlight and maxPerSecond when declared; "Executor default" otherwise. */
export function LimitsText({ limits }: { limits: WorkflowResponse['limits'] }) {
  const parts = [
    limits?.maxInFlight !== undefined ? `maxInFlight ${limits.maxInFlight}` : null,
    limits?.maxPerSecond !== undefined ? `maxPerSecond ${limits.maxPerSecond}` : null,
  ].filter((part): part is string => part !== null);
  if (parts.length === 0) return <Text size="sm">Executor default</Text>;
  return (
    <Stack gap={0}>
      {parts.map((part) => (
        <Text size="sm" key={part}>
          {part}
        </Text>
      ))}
    </Stack>
  );
}

export function TargetText({ target }: { target: WorkflowResponse['target'] }) {
  if (!target) return <Text size="sm">—</Text>;
  return (
    <Stack gap={0}>
      <Text size="sm" style={{ wordBreak: 'break-all' }}>
        {target.url}
      </Text>
      <Text size="xs" c="dimmed">
        {target.mode}
      </Text>
    </Stack>
  );
}
