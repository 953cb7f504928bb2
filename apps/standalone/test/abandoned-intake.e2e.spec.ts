import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { PlatformProcess, TargetServer, eventually, freePort, sleep, tempDir } from '@flotilla/testing';

/**
 * A process killed while it writes an upload's chunks leaves them with no batch: once it is back,
 * and the intake is older than ABANDONED_INTAKE_AFTER_SECONDS, they are discarded and their rows
 * leave the read models. The real process, killed with SIGKILL mid-intake.
 */
describe('an intake its process left unfinished', () => {
  let data: ReturnType<typeof tempDir>;
  let target: TargetServer;
  let app: PlatformProcess | null = null;

  beforeAll(async () => {
    data = tempDir('flotilla-abandoned-');
    target = new TargetServer();
    await target.start();
  });

  afterAll(async () => {
    await app?.kill();
    await target.stop();
    data.remove();
  });

  const count = (db: DatabaseSync, sql: string, ...params: string[]): number =>
    (db.prepare(sql).get(...params) as { n: number } | undefined)?.n ?? 0;

  it('is discarded once its process is back and the intake is older than the limit; its rows go', async () => {
    const port = await freePort();
    app = new PlatformProcess(port, data.path);
    await app.start();
    const workflow = await app.request('POST', '/v1/workflows', {
      id: 'crm',
      name: 'CRM sync',
      inputs: [{ name: 'email' }, { name: 'first_name' }],
      target: { url: target.url },
    });
    expect(workflow.status).toBe(201);

    // Big enough that its chunks take a while to write: the process is killed while they are.
    const rows = Array.from({ length: 400_000 }, (_, i) => `u${i}@x.io,U${i}`);
    const form = new FormData();
    form.append('config', JSON.stringify({ name: 'killed', workflowId: 'crm', maxConcurrent: 10, batchIntervalSeconds: 60 }));
    form.append('file', new Blob([`email,first_name\n${rows.join('\n')}\n`], { type: 'text/csv' }), 'rows.csv');
    const upload = fetch(`${app.url}/v1/batches`, { method: 'POST', body: form }).catch((error: unknown) => error);

    const events = new DatabaseSync(join(data.path, 'events.sqlite'), { readOnly: true });
    try {
      const started = await eventually(
        () =>
          Promise.resolve(
            events.prepare("SELECT stream, count(*) AS n FROM events WHERE type = 'BatchItemsChunkRecorded' GROUP BY stream").all() as {
              stream: string;
              n: number;
            }[],
          ),
        (streams) => streams.some((stream) => stream.n >= 6),
        60_000,
        'the intake to write its first chunks',
      );
      await app.kill();
      // The client sees the connection go, not an answer.
      expect(String(await upload)).toContain('fetch failed');
      const stream = started.find((found) => found.n >= 6)?.stream ?? '';
      const batchId = stream.replace(/^batchitems-/, '');
      const chunks = count(events, "SELECT count(*) AS n FROM events WHERE stream = ? AND type = 'BatchItemsChunkRecorded'", stream);
      expect(chunks).toBeGreaterThanOrEqual(6);
      expect(chunks).toBeLessThan(400);
      expect(count(events, 'SELECT count(*) AS n FROM events WHERE stream = ?', `batch-${batchId}`)).toBe(0);

      // Back, with a limit short enough for the test: the intake's last chunk is older than it by now.
      await sleep(1_000);
      app = new PlatformProcess(port, data.path, { ABANDONED_INTAKE_AFTER_SECONDS: '1' });
      await app.start();
      const discard = await eventually(
        () =>
          Promise.resolve(
            events.prepare("SELECT revision, data FROM events WHERE stream = ? AND type = 'BatchItemsDiscarded'").all(stream) as {
              revision: number;
              data: string;
            }[],
          ),
        (found) => found.length > 0,
        30_000,
        'the abandoned intake to be discarded',
      );
      expect(discard).toHaveLength(1);
      expect(discard[0]?.revision).toBe(chunks);
      expect(JSON.parse(discard[0]?.data ?? '{}')).toMatchObject({ batchId, reason: 'abandoned' });

      const state = new DatabaseSync(join(data.path, 'standalone-state.sqlite'), { readOnly: true });
      try {
        await eventually(
          () =>
            Promise.resolve({
              items: count(state, 'SELECT count(*) AS n FROM execution_items WHERE batch_id = ?', batchId),
              executions: count(state, 'SELECT count(*) AS n FROM executions WHERE batch_id = ?', batchId),
              unfinished: count(state, 'SELECT count(*) AS n FROM unfinished_intakes'),
            }),
          (left) => left.items === 0 && left.executions === 0 && left.unfinished === 0,
          30_000,
          "the abandoned intake's rows to be deleted",
        );
      } finally {
        state.close();
      }
      expect(app.output.join('')).toContain(`Discarded the items of an abandoned intake (batch ${batchId}`);
      // The product goes on: a new upload is accepted and listed.
      const later = new FormData();
      later.append('config', JSON.stringify({ name: 'later', workflowId: 'crm', maxConcurrent: 10, batchIntervalSeconds: 0 }));
      later.append('file', new Blob(['email,first_name\nz@x.io,Zed\n'], { type: 'text/csv' }), 'rows.csv');
      expect((await app.request('POST', '/v1/batches', later)).status).toBe(201);
    } finally {
      events.close();
    }
  });
});
