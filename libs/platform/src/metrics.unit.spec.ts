import { Metrics, batchEventMetrics } from './metrics';
import type { BatchEvent, BatchState } from '@flotilla/domain';

const valueOf = async (metrics: Metrics, name: string): Promise<{ value: number; labels: Partial<Record<string, string | number>> }[]> =>
  (await metrics.registry.getSingleMetric(name)?.get())?.values.map(({ value, labels }) => ({ value, labels })) ?? [];

describe('Metrics', () => {
  it('reads an observed value at scrape time, once per name however many modules register it', async () => {
    const metrics = new Metrics();
    let depth = 3;
    metrics.observe('flotilla_executor_queue_depth', 'depth', () => depth);
    metrics.observe('flotilla_executor_queue_depth', 'depth again', () => 100);
    expect(await valueOf(metrics, 'flotilla_executor_queue_depth')).toEqual([{ value: 3, labels: {} }]);
    depth = 5;
    expect(await metrics.text()).toContain('\nflotilla_executor_queue_depth 5\n');
    expect((await metrics.text()).match(/^# TYPE flotilla_executor_queue_depth gauge$/gm)).toHaveLength(1);
  });

  it('gives one series per key of a map, and a value that cannot be read as NaN without failing the scrape', async () => {
    const metrics = new Metrics();
    metrics.observe(
      'flotilla_consumer_lag',
      'lag',
      () =>
        new Map([
          ['executor-dispatch', 7],
          ['notifier', 0],
        ]),
      'group',
    );
    metrics.observe('flotilla_relay_lag_events', 'relay', () => Promise.reject(new Error('the broker is away')));
    const text = await metrics.text();
    expect(text).toContain('flotilla_consumer_lag{group="executor-dispatch"} 7');
    expect(text).toContain('flotilla_consumer_lag{group="notifier"} 0');
    expect(text).toMatch(/^flotilla_relay_lag_events nan$/im);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('counts outcomes by workflow and the lateness of triggered executions from appended batch events', async () => {
    const metrics = new Metrics();
    const observe = batchEventMetrics(metrics);
    const state = { settings: { workflowId: 'crm' } } as unknown as BatchState;
    const about = { batchId: 'b', executionId: 'b-0', index: 0, occurredAt: '2026-01-01T00:00:02.500Z' };
    observe(
      [
        { type: 'ExecutionTriggered', data: { ...about, executeAt: '2026-01-01T00:00:00.000Z' } },
        { type: 'ExecutionCompleted', data: { ...about, output: null, attempts: 1 } },
        { type: 'ExecutionFailed', data: { ...about, index: 1, error: 'HTTP 500', attempts: 3 } },
        { type: 'ExecutionFailed', data: { ...about, index: 2, error: 'HTTP 500', attempts: 3 } },
      ] as BatchEvent[],
      state,
    );
    expect(await valueOf(metrics, 'flotilla_executions_total')).toEqual([
      { value: 1, labels: { workflow: 'crm', outcome: 'completed' } },
      { value: 2, labels: { workflow: 'crm', outcome: 'failed' } },
    ]);
    const text = await metrics.text();
    expect(text).toContain('flotilla_wave_lateness_seconds_count 1');
    expect(text).toContain('flotilla_wave_lateness_seconds_sum 2.5');
    expect(text).toContain('flotilla_wave_lateness_seconds_bucket{le="1"} 0');
    expect(text).toContain('flotilla_wave_lateness_seconds_bucket{le="2.5"} 1');
  });
});
