import type { BatchView, HistoryEntry } from '@flotilla/projections';
import { PlatformProcess, TargetServer, eventually, freePort, sleep, tempDir } from '@flotilla/testing';

describe('restart on the same data directory', () => {
  it('after a crash mid-batch nothing is lost, nothing is triggered twice, and the due waves of a burst batch fire at once, in order', async () => {
    const data = tempDir('flotilla-restart-');
    const target = new TargetServer();
    await target.start();
    const port = await freePort();
    let app = new PlatformProcess(port, data.path);
    try {
      await app.start();
      await app.request('POST', '/v1/workflows', { id: 'w', name: 'w', inputs: [{ name: 'n' }], target: { url: target.url } });
      const items = Array.from({ length: 20 }, (_, i) => ({ inputs: { n: String(i) } }));
      const created = await app.request<{ id: string }>('POST', '/v1/batches', {
        name: 'r',
        workflowId: 'w',
        maxConcurrent: 2,
        batchIntervalSeconds: 1,
        // Today's burst: the waves missed while down fire at once, in order (catch-up.e2e.spec.ts has the paced default).
        catchUp: 'burst',
        items,
      });
      const id = created.body.id;
      const future = await app.request<{ id: string }>('POST', '/v1/batches', {
        name: 'later',
        workflowId: 'w',
        startAt: new Date(Date.now() + 6000).toISOString(),
        maxConcurrent: 5,
        batchIntervalSeconds: 0,
        items: items.slice(0, 3),
      });
      await eventually(
        () => app.request<BatchView>('GET', `/v1/batches/${id}`).then((r) => r.body),
        (view) => view.progress.triggered >= 4,
        10_000,
      );
      await app.kill();
      const downAt = Date.now();
      await sleep(3000);

      app = new PlatformProcess(port, data.path);
      await app.start();
      const view = await eventually(
        () => app.request<BatchView>('GET', `/v1/batches/${id}`).then((r) => r.body),
        (batch) => batch.progress.completed === 20,
        30_000,
        'all 20 completed',
      );
      expect(view.status).toBe('completed');
      expect(view.progress).toMatchObject({ total: 20, triggered: 20, completed: 20, failed: 0, cancelled: 0 });

      const history = (await app.request<{ items: HistoryEntry[] }>('GET', `/v1/batches/${id}/history`)).body.items;
      const triggered = history
        .filter((entry) => entry.type === 'ExecutionTriggered')
        .map((entry) => (entry.data as { index: number }).index);
      expect(triggered.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      const completedOnce = history
        .filter((entry) => entry.type === 'ExecutionCompleted')
        .map((entry) => (entry.data as { index: number }).index);
      expect(new Set(completedOnce).size).toBe(completedOnce.length);
      // Every execution reached the target, always under its own key.
      expect(new Set([...target.keys()].filter((key) => key.startsWith(`${id}.`)))).toEqual(
        new Set(Array.from({ length: 20 }, (_, i) => `${id}.${i}`)),
      );

      // Waves whose time passed while the process was down were declared in order after the restart.
      const waves = history.filter((entry) => entry.type === 'WaveDue').map((entry) => entry.data as { wave: number; dueAt: string });
      expect(waves.map((wave) => wave.wave)).toEqual([...waves.map((wave) => wave.wave)].sort((a, b) => a - b));
      const overdue = history.filter(
        (entry) =>
          entry.type === 'WaveDue' &&
          Date.parse((entry.data as { dueAt: string }).dueAt) < downAt + 3000 &&
          Date.parse(entry.occurredAt) > downAt,
      );
      expect(overdue.length).toBeGreaterThan(0);

      // The batch that was still pending started by itself after the restart.
      const later = await eventually(
        () => app.request<BatchView>('GET', `/v1/batches/${future.body.id}`).then((r) => r.body),
        (batch) => batch.status === 'completed',
        20_000,
        'the later batch',
      );
      expect(later.progress.completed).toBe(3);
    } finally {
      await app.kill();
      await target.stop();
      data.remove();
    }
  });
});
