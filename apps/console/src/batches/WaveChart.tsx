import { BarChart } from '@mantine/charts';
import { Paper, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { ApiError, apiFetch } from '../api';
import { formatClockTime } from './format';
import type { WavesView } from './types';

/** Planned against triggered per wave (GET /v1/batches/:id/waves, at most 500 points). Hidden when the API has none. */
export function WaveChart({ batchId, refetchInterval }: { batchId: string; refetchInterval: number | false }) {
  const waves = useQuery({
    queryKey: ['waves', batchId],
    queryFn: ({ signal }) => apiFetch<WavesView>(`/v1/batches/${encodeURIComponent(batchId)}/waves`, { signal }),
    retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 1,
    refetchInterval,
  });
  const data = useMemo(
    () =>
      (waves.data?.items ?? []).map((wave) => ({
        wave: formatClockTime(wave.executeAt),
        planned: wave.planned,
        triggered: wave.triggered,
      })),
    [waves.data],
  );
  if (waves.isError || (waves.isSuccess && data.length === 0)) return null;
  return (
    <Paper withBorder p="md">
      <Title order={3} size="h4" mb="xs">
        Wave timeline
      </Title>
      {waves.isPending ? (
        <Text c="dimmed">Loading the waves…</Text>
      ) : (
        <>
          <Text size="xs" c="dimmed" mb="xs">
            {data.length} {data.length === 1 ? 'span' : 'spans'} of {waves.data?.bucketSeconds ?? '?'} s
          </Text>
          <BarChart
            h={220}
            data={data}
            dataKey="wave"
            series={[
              { name: 'planned', color: 'gray.5', label: 'Planned' },
              { name: 'triggered', color: 'indigo.6', label: 'Triggered' },
            ]}
            withLegend
            tickLine="y"
          />
        </>
      )}
    </Paper>
  );
}
