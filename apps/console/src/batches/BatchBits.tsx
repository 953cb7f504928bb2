import { Badge, Button, Group, Modal, Progress, Stack, Text, Textarea } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { apiFetch, formatError } from '../api';
import { useNotify } from '../notify';
import type { BatchStatus, BatchView, Page } from './types';

const STATUS_COLOR: Record<BatchStatus, string> = {
  pending: 'gray',
  running: 'blue',
  paused: 'yellow',
  completed: 'green',
  cancelled: 'red',
};

export function StatusBadge({ status }: { status: BatchStatus }) {
  return (
    <Badge color={STATUS_COLOR[status] ?? 'gray'} variant="dot">
      {status}
    </Badge>
  );
}

const clampPercent = (value: number): number => (Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0);

/** The batch's progress bar: triggered over total, one element of role progressbar named "<name> progress". */
export function BatchProgressBar({ batch, size = 'md' }: { batch: Pick<BatchView, 'name' | 'status' | 'progress'>; size?: string }) {
  const percent = clampPercent(batch.progress.percent);
  return (
    <Progress
      value={percent}
      size={size}
      aria-label={`${batch.name} progress`}
      color={batch.status === 'paused' ? 'yellow' : batch.status === 'cancelled' ? 'red' : undefined}
      animated={batch.status === 'running'}
    />
  );
}

export type BatchAction = 'pause' | 'resume' | 'cancel';
export const ACTION_LABEL: Record<BatchAction, string> = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

/** Puts a batch's new view everywhere the console shows it: its own query and the rows of the lists. */
export const useStoreBatch = () => {
  const queryClient = useQueryClient();
  return (view: BatchView) => {
    // A fetch of the batch still under way answers older news than this view: it is cancelled first.
    void queryClient
      .cancelQueries({ queryKey: ['batch', view.id], exact: true })
      .then(() => queryClient.setQueryData(['batch', view.id], view));
    queryClient.setQueriesData<Page<BatchView>>({ queryKey: ['batches'] }, (page) =>
      page ? { ...page, items: page.items.map((item) => (item.id === view.id ? view : item)) } : page,
    );
  };
};

/** POST /v1/batches/:id/pause|resume|cancel with { reason? }. */
export const useBatchAction = (onDone?: () => void) => {
  const queryClient = useQueryClient();
  const storeBatch = useStoreBatch();
  const notify = useNotify();
  return useMutation({
    mutationFn: ({ id, action, reason }: { id: string; action: BatchAction; reason?: string }) =>
      apiFetch<BatchView>(`/v1/batches/${encodeURIComponent(id)}/${action}`, {
        method: 'POST',
        json: reason ? { reason } : {},
      }),
    onSuccess: (view, { action }) => {
      if (view && typeof view === 'object' && 'id' in view) storeBatch(view);
      void queryClient.invalidateQueries({ queryKey: ['batches'] });
      void queryClient.invalidateQueries({ queryKey: ['history', view?.id] });
      notify({ color: 'green', message: `${ACTION_LABEL[action]}: ${view?.name ?? 'done'}` });
      onDone?.();
    },
    onError: (error, { action }) => notify({ color: 'red', title: `${ACTION_LABEL[action]} failed`, message: formatError(error) }),
  });
};

/**
 * A dialog asking for a reason before an action: a Textarea `Reason` and a button `Confirm`; `error`
 * (the API's refusal) shows inside it. With `required`, an empty reason is refused here ("Enter a
 * reason") and nothing is sent. The form lives inside the modal, which unmounts it on close, so
 * each opening starts with an empty reason.
 */
export function ReasonModal({
  opened,
  title,
  onClose,
  ...form
}: {
  opened: boolean;
  title: string;
  description?: ReactNode;
  busy?: boolean;
  error?: string | null;
  required?: boolean;
  maxLength?: number;
  onClose: () => void;
  onConfirm: (reason: string) => void;
  /** Called as the reason is edited, e.g. to clear a refusal that no longer applies. */
  onEdit?: () => void;
  children?: ReactNode;
}) {
  return (
    <Modal opened={opened} onClose={onClose} title={title} centered closeButtonProps={{ 'aria-label': 'Close dialog' }}>
      <ReasonForm {...form} onClose={onClose} />
    </Modal>
  );
}

function ReasonForm({
  description,
  busy,
  error,
  required = false,
  maxLength,
  onClose,
  onConfirm,
  onEdit,
  children,
}: Omit<Parameters<typeof ReasonModal>[0], 'opened' | 'title'>) {
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState(false);
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        const trimmed = reason.trim();
        if (required && !trimmed) return setMissing(true);
        onConfirm(trimmed);
      }}
    >
      <Stack>
        {description && <Text size="sm">{description}</Text>}
        {children}
        <Textarea
          label="Reason"
          // Checked here, with a message of ours; the browser still checks the fields in `children`.
          aria-required={required}
          maxLength={maxLength}
          value={reason}
          onChange={(event) => {
            setReason(event.currentTarget.value);
            setMissing(false);
            onEdit?.();
          }}
          error={missing ? 'Enter a reason' : undefined}
          autosize
          minRows={2}
          data-autofocus
        />
        {error && (
          <Text c="red.9" size="sm" style={{ whiteSpace: 'pre-line' }} role="alert">
            {error}
          </Text>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>
            Close
          </Button>
          <Button type="submit" loading={busy}>
            Confirm
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
