import { Badge, Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { apiFetch, formatError } from '../api';
import { formatTime } from '../batches/format';
import { useNotify } from '../notify';
import type { Page, WorkflowHold, WorkflowResponse } from './types';

export type HoldAction = 'hold' | 'release';
export const HOLD_LABEL: Record<HoldAction, string> = { hold: 'Hold', release: 'Release' };
const DONE_LABEL: Record<HoldAction, string> = { hold: 'Held', release: 'Released' };

/** The API refuses a longer reason (422). */
const MAX_REASON = 500;

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

/**
 * The dialog of a hold or a release: a required Textarea `Reason` and a button `Confirm`; the API's refusal
 * (409 already held / not held, 422 …) shows inside it. `attempt` changes on each opening, which clears the reason.
 */
export function HoldDialog({
  target,
  opened,
  attempt,
  onClose,
}: {
  target: HoldTarget | null;
  opened: boolean;
  attempt: number;
  onClose: () => void;
}) {
  const title = target ? `${HOLD_LABEL[target.action]} ${target.id}` : '';
  return (
    <Modal opened={opened} onClose={onClose} title={title} centered closeButtonProps={{ 'aria-label': 'Close dialog' }}>
      {target && <HoldForm key={attempt} target={target} onClose={onClose} />}
    </Modal>
  );
}

function HoldForm({ target, onClose }: { target: HoldTarget; onClose: () => void }) {
  const mutation = useHoldAction(onClose);
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState(false);
  return (
    <form
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        const trimmed = reason.trim();
        if (!trimmed) return setMissing(true);
        mutation.mutate({ id: target.id, action: target.action, reason: trimmed });
      }}
    >
      <Stack>
        <Text size="sm">
          {target.action === 'hold'
            ? 'While the workflow is held, none of its executions is called, whatever batch they belong to; calls in flight finish.'
            : 'Its batches go on: the pending executions of the running ones are re-planned from now.'}
        </Text>
        <Textarea
          label="Reason"
          required
          withAsterisk={false}
          maxLength={MAX_REASON}
          value={reason}
          onChange={(event) => {
            setReason(event.currentTarget.value);
            setMissing(false);
            if (mutation.isError) mutation.reset();
          }}
          error={missing ? 'Enter a reason' : undefined}
          autosize
          minRows={2}
          data-autofocus
        />
        {mutation.isError && (
          <Text c="red.9" size="sm" style={{ whiteSpace: 'pre-line' }} role="alert">
            {formatError(mutation.error)}
          </Text>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
          <Button type="submit" loading={mutation.isPending}>
            Confirm
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** The state of a page's hold dialog: which workflow, which action, open or closing. */
export const useHoldDialog = () => {
  const [target, setTarget] = useState<HoldTarget | null>(null);
  const [opened, setOpened] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const open = (workflow: Pick<WorkflowResponse, 'id' | 'held'>) => {
    setTarget({ id: workflow.id, action: holdActionOf(workflow) });
    setAttempt((n) => n + 1);
    setOpened(true);
  };
  const dialog = { target, opened, attempt, onClose: () => setOpened(false) };
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
