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

/** A dialog asking for a reason before an action: a Textarea `Reason` and a button `Confirm`. */
export function ReasonModal({
  opened,
  title,
  description,
  busy,
  error,
  onClose,
  onConfirm,
  children,
}: {
  opened: boolean;
  title: string;
  description?: ReactNode;
  busy?: boolean;
  error?: string | null;
  onClose: () => void;
  onConfirm: (reason: string) => void;
  children?: ReactNode;
}) {
  const [reason, setReason] = useState('');
  const close = () => {
    setReason('');
    onClose();
  };
  return (
    <Modal opened={opened} onClose={close} title={title} centered closeButtonProps={{ 'aria-label': 'Close dialog' }}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          onConfirm(reason.trim());
        }}
      >
        <Stack>
          {description && <Text size="sm">{description}</Text>}
          {children}
          <Textarea
            label="Reason"
            value={reason}
            onChange={(event) => setReason(event.currentTarget.value)}
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
            <Button variant="default" onClick={close}>
              Close
            </Button>
            <Button type="submit" loading={busy}>
              Confirm
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
