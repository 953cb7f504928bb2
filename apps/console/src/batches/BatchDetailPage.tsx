import { Alert, Anchor, Button, Group, Loader, NumberInput, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { queryOptions, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { Suspense, lazy, useState, type ReactNode } from 'react';
import { Link, matchPath, useNavigate, useParams } from 'react-router';
import { apiFetch, formatError } from '../api';
import { useNotify } from '../notify';
import { ACTION_LABEL, BatchProgressBar, ReasonModal, StatusBadge, useBatchAction, useStoreBatch, type BatchAction } from './BatchBits';
import { BatchDownloads } from './downloads';
import { ExecutionsTable } from './ExecutionsTable';
import { formatCount, formatTime } from './format';
import { HISTORY_PAGE_SIZE, HistoryTable, historyKey } from './HistoryTable';
import { FALLBACK_REFETCH_MS, useEventStream, useThrottled } from './live';
import { canCancel, canEditPacing, canPause, canResume, type BatchView, type HistoryEntry, type Page } from './types';

// The chart library is the bulk of the bundle: the page's heading, progress and tables render before it loads.
const WaveChart = lazy(() => import('./WaveChart').then((module) => ({ default: module.WaveChart })));
/** The height the chart's panel takes, kept while it loads so the page does not jump. */
const WAVE_CHART_HEIGHT = 300;

/** New history entries refetch the executions, the waves and the history at most this often. */
const DETAIL_REFETCH_MS = 2000;

const batchLink = (id: string) => `/batches/${encodeURIComponent(id)}`;

const batchQuery = (id: string) =>
  queryOptions({
    queryKey: ['batch', id],
    queryFn: ({ signal }) => apiFetch<BatchView>(`/v1/batches/${encodeURIComponent(id)}`, { signal }),
  });

/**
 * Starts reading the batch a page opened at `/batches/<id>` shows, while the app still probes the key:
 * the read then no longer waits for the probe and the shell's first render (50-100 ms of a cold visit).
 */
export const prefetchBatchOf = (queryClient: QueryClient, pathname: string): void => {
  const id = matchPath('/batches/:id', pathname)?.params.id;
  if (id !== undefined && id !== 'new') void queryClient.prefetchQuery(batchQuery(id));
};

export function BatchDetailPage() {
  const { id = '' } = useParams();
  const queryClient = useQueryClient();
  const storeBatch = useStoreBatch();

  const refetchDetails = useThrottled(() => {
    void queryClient.invalidateQueries({ queryKey: ['executions', id] });
    void queryClient.invalidateQueries({ queryKey: ['waves', id] });
    void queryClient.invalidateQueries({ queryKey: ['history', id] });
  }, DETAIL_REFETCH_MS);

  const live = useEventStream(id ? `/v1/batches/${encodeURIComponent(id)}/events` : null, {
    batch: (data) => {
      if (data && typeof data === 'object' && 'progress' in data) storeBatch(data as BatchView);
    },
    history: (data) => {
      const entries = (data as { items?: HistoryEntry[] } | null)?.items;
      if (!Array.isArray(entries) || entries.length === 0) return;
      queryClient.setQueryData<Page<HistoryEntry>>(historyKey(id, null), (page) => {
        if (!page) return page;
        const known = new Set(page.items.map((entry) => entry.position));
        const fresh = entries.filter((entry) => !known.has(entry.position)).reverse();
        // A page's worth: a running million sends up to 100 entries a second, and the page stays one page long
        // (the refetch that follows within DETAIL_REFETCH_MS brings the cursor of its last entry).
        return { ...page, items: [...fresh, ...page.items].slice(0, HISTORY_PAGE_SIZE) };
      });
      refetchDetails();
    },
  });
  const refetchInterval = live ? false : FALLBACK_REFETCH_MS;

  const batch = useQuery({
    ...batchQuery(id),
    refetchInterval,
    enabled: id !== '',
  });

  if (batch.isPending) {
    return (
      <Group>
        <Loader size="sm" aria-label="Loading the batch" />
        <Text>Loading the batch…</Text>
      </Group>
    );
  }
  if (batch.isError) {
    return (
      <Stack>
        <Title order={2}>Batch {id}</Title>
        <Alert color="red" title="The batch could not be loaded" style={{ whiteSpace: 'pre-line' }}>
          {formatError(batch.error)}
        </Alert>
        <Anchor component={Link} to="/">
          Back to the batches
        </Anchor>
      </Stack>
    );
  }
  const view = batch.data;
  return (
    <Stack gap="md">
      <BatchHeader batch={view} live={live} />
      <BatchSummary batch={view} />
      <Suspense fallback={<Paper withBorder p="md" h={WAVE_CHART_HEIGHT} />}>
        <WaveChart batchId={view.id} refetchInterval={refetchInterval} />
      </Suspense>
      <ExecutionsTable batchId={view.id} refetchInterval={refetchInterval} />
      <HistoryTable batchId={view.id} refetchInterval={refetchInterval} />
    </Stack>
  );
}

function BatchHeader({ batch, live }: { batch: BatchView; live: boolean }) {
  const navigate = useNavigate();
  const notify = useNotify();
  const [action, setAction] = useState<BatchAction | null>(null);
  const [pacing, setPacing] = useState(false);
  const run = useBatchAction(() => setAction(null));
  const retry = useMutation({
    mutationFn: () => apiFetch<{ id: string }>(`/v1/batches/${encodeURIComponent(batch.id)}/retry-failed`, { method: 'POST', json: {} }),
    onSuccess: (created) => {
      notify({ color: 'green', message: `Retry batch ${created.id} created` });
      navigate(batchLink(created.id));
    },
    onError: (error) => notify({ color: 'red', title: 'Retry failed was refused', message: formatError(error) }),
  });
  const open = (kind: BatchAction) => {
    run.reset();
    setAction(kind);
  };

  return (
    <Stack gap="xs">
      <Group justify="space-between" align="flex-start">
        <Stack gap={4}>
          <Group gap="sm">
            <Title order={2}>{batch.name}</Title>
            <StatusBadge status={batch.status} />
          </Group>
          <Text size="sm" c="dimmed">
            {batch.id} · {live ? 'live' : 'refreshing every 5 s'}
          </Text>
        </Stack>
        <Group gap="xs">
          <Button variant="default" disabled={!canPause(batch.status)} onClick={() => open('pause')}>
            Pause
          </Button>
          <Button variant="default" disabled={!canResume(batch.status)} onClick={() => open('resume')}>
            Resume
          </Button>
          <Button variant="outline" color="red.9" disabled={!canCancel(batch.status)} onClick={() => open('cancel')}>
            Cancel
          </Button>
          <Button variant="default" disabled={!canEditPacing(batch.status)} onClick={() => setPacing(true)}>
            Edit pacing
          </Button>
          <Button variant="filled" disabled={batch.progress.failed === 0} loading={retry.isPending} onClick={() => retry.mutate()}>
            Retry failed
          </Button>
        </Group>
      </Group>
      {batch.heldBy && (
        <Alert color="yellow" title="Held by its workflow">
          {batch.heldReason ?? 'No reason given'} (since {formatTime(batch.heldAt)})
        </Alert>
      )}
      <ReasonModal
        opened={action !== null}
        title={action ? `${ACTION_LABEL[action]} ${batch.name}` : ''}
        busy={run.isPending}
        error={run.isError ? formatError(run.error) : null}
        onClose={() => setAction(null)}
        onConfirm={(reason) => {
          if (action) run.mutate({ id: batch.id, action, reason: reason || undefined });
        }}
      />
      {pacing && <PacingModal batch={batch} onClose={() => setPacing(false)} />}
    </Stack>
  );
}

function BatchSummary({ batch }: { batch: BatchView }) {
  const { progress } = batch;
  const counts: [string, number][] = [
    ['Total', progress.total],
    ['Pending', progress.pending],
    ['Triggered', progress.triggered],
    ['Completed', progress.completed],
    ['Failed', progress.failed],
    ['Cancelled', progress.cancelled],
  ];
  const settings: [string, ReactNode][] = [
    ['Workflow', `${batch.workflowId} (version ${batch.workflowVersion})`],
    ['Start at', formatTime(batch.startAt)],
    ['Max concurrent', batch.maxConcurrent],
    ['Batch interval', `${batch.batchIntervalSeconds} s`],
    ['Priority', batch.priority],
    ['Default profile', batch.defaultProfile ?? '—'],
    ['Profile pool', batch.profilePool?.join(', ') || '—'],
    ['Max failure percent', batch.maxFailurePercent ?? 'no limit'],
    ['Max failures', batch.maxFailures ?? 'no limit'],
    ['Catch-up', batch.catchUp],
    ['Created', formatTime(batch.createdAt)],
    ['Started', formatTime(batch.startedAt)],
    ['Estimated cost', batch.estimatedCost ? `${batch.estimatedCost.amount} ${batch.estimatedCost.currency}` : '—'],
  ];
  return (
    <SimpleGrid cols={{ base: 1, md: 2 }}>
      <Paper withBorder p="md">
        <Stack gap="xs">
          <Group justify="space-between">
            <Text fw={600}>Progress</Text>
            <Text size="sm">
              {formatCount(progress.triggered)} / {formatCount(progress.total)} triggered ({progress.percent}%)
            </Text>
          </Group>
          <BatchProgressBar batch={batch} size="lg" />
          <SimpleGrid cols={3} spacing="xs">
            {counts.map(([label, value]) => (
              <div key={label}>
                <Text size="xs" c="dimmed">
                  {label}
                </Text>
                <Text fw={600}>{formatCount(value)}</Text>
              </div>
            ))}
          </SimpleGrid>
          <Text size="sm">
            ETA: <b>{formatTime(batch.estimatedCompletionAt)}</b>
            {batch.completedAt && <> · completed {formatTime(batch.completedAt)}</>}
            {batch.cancelledAt && <> · cancelled {formatTime(batch.cancelledAt)}</>}
          </Text>
          {batch.parentBatchId && (
            <Text size="sm">
              Retry of{' '}
              <Anchor component={Link} to={batchLink(batch.parentBatchId)}>
                {batch.parentBatchId}
              </Anchor>
            </Text>
          )}
          {batch.retries.length > 0 && (
            <Text size="sm">
              Retried by{' '}
              {batch.retries.map((retryId, i) => (
                <span key={retryId}>
                  {i > 0 && ', '}
                  <Anchor component={Link} to={batchLink(retryId)}>
                    {retryId}
                  </Anchor>
                </span>
              ))}
            </Text>
          )}
          <BatchDownloads batchId={batch.id} />
        </Stack>
      </Paper>
      <Paper withBorder p="md">
        <Text fw={600} mb="xs">
          Settings
        </Text>
        <Table verticalSpacing={2} aria-label="Settings">
          <Table.Tbody>
            {settings.map(([label, value]) => (
              <Table.Tr key={label}>
                <Table.Th w={180}>{label}</Table.Th>
                <Table.Td>{value}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Paper>
    </SimpleGrid>
  );
}

const asNumber = (value: number | string): number | undefined => {
  if (value === '' || value === null) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : undefined;
};

/** PATCH /v1/batches/:id with the changed pacing fields and a reason. */
function PacingModal({ batch, onClose }: { batch: BatchView; onClose: () => void }) {
  const storeBatch = useStoreBatch();
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [maxConcurrent, setMaxConcurrent] = useState<number | string>(batch.maxConcurrent);
  const [interval, setIntervalSeconds] = useState<number | string>(batch.batchIntervalSeconds);
  const [priority, setPriority] = useState<number | string>(batch.priority);
  const save = useMutation({
    mutationFn: (reason: string) => {
      const body: Record<string, unknown> = {};
      const changed = (value: number | string, current: number) => {
        const n = asNumber(value);
        return n !== undefined && n !== current ? n : undefined;
      };
      const c = changed(maxConcurrent, batch.maxConcurrent);
      const b = changed(interval, batch.batchIntervalSeconds);
      const p = changed(priority, batch.priority);
      if (c !== undefined) body.maxConcurrent = c;
      if (b !== undefined) body.batchIntervalSeconds = b;
      if (p !== undefined) body.priority = p;
      if (reason) body.reason = reason;
      return apiFetch<BatchView>(`/v1/batches/${encodeURIComponent(batch.id)}`, { method: 'PATCH', json: body });
    },
    onSuccess: (view) => {
      storeBatch(view);
      void queryClient.invalidateQueries({ queryKey: ['history', batch.id] });
      void queryClient.invalidateQueries({ queryKey: ['waves', batch.id] });
      void queryClient.invalidateQueries({ queryKey: ['executions', batch.id] });
      notify({ color: 'green', message: 'Pacing saved' });
      onClose();
    },
  });
  return (
    <ReasonModal
      opened
      title={`Edit pacing of ${batch.name}`}
      busy={save.isPending}
      error={save.isError ? formatError(save.error) : null}
      onClose={onClose}
      onConfirm={(reason) => save.mutate(reason)}
    >
      <NumberInput label="Max concurrent" min={1} allowDecimal={false} value={maxConcurrent} onChange={setMaxConcurrent} />
      <NumberInput label="Batch interval (seconds)" min={0} value={interval} onChange={setIntervalSeconds} />
      <NumberInput label="Priority" min={1} max={100} allowDecimal={false} value={priority} onChange={setPriority} />
    </ReasonModal>
  );
}
