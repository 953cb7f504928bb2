import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { BatchView, ExecutionView, HistoryEntry } from '@flotilla/projections';
import {
  PlatformProcess,
  ProductFixture,
  eventually,
  freePort,
  launchChromium,
  screenshot,
  sleep,
  tempDir,
  watchPageErrors,
} from '@flotilla/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';

const root = resolve(__dirname, '../../..');

/** The console of the sources under test, built by Vite into a folder of its own (CONSOLE_DIR). */
const buildConsole = (outDir: string): void => {
  const built = spawnSync(process.execPath, [join(root, 'scripts/build-console.mjs'), outDir], { cwd: root, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`The console did not build:\n${built.stdout}\n${built.stderr}`);
};

/** Fails for every input `n` with n % 7 === 3, once (one attempt): the batches have failed items to download and retry. */
const failsOnThrees = (n: number): boolean => n % 7 === 3;

const csvOf = (headers: readonly string[], rows: readonly (readonly string[])[]): Buffer =>
  Buffer.from([headers.join(','), ...rows.map((row) => row.join(','))].join('\n') + '\n');

describe('the console in a real browser', () => {
  const consoleDir = tempDir('flotilla-console-build-');
  let product: ProductFixture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: Error[];

  beforeAll(async () => {
    buildConsole(consoleDir.path);
    product = await ProductFixture.start({
      name: 'console-browser',
      env: { CONSOLE_DIR: consoleDir.path },
      workflows: [{ id: 'w', retry: { maxAttempts: 1, backoffMs: 100 } }],
      webhookEvents: ['batch.completed'],
    });
    product.target.respond = async (call) => {
      await sleep(40);
      return failsOnThrees(Number(call.body.inputs['n']))
        ? { status: 500, body: { error: 'three' } }
        : { status: 200, body: { echo: call.body.inputs['n'] } };
    };
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await product?.stop();
    consoleDir.remove();
  });

  beforeEach(async () => {
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    pageErrors = watchPageErrors(page);
  });

  afterEach(async () => {
    await context.close();
    // An error the page threw and nothing caught fails the test that caused it.
    expect(pageErrors.map((error) => error.stack ?? error.message)).toEqual([]);
  });

  const url = (path: string) => `${product.app.url}${path}`;
  const api = <T>(method: string, path: string, body?: unknown) => product.app.request<T>(method, path, body);
  const seriousViolations = async (screen: string) => {
    const { violations } = await new AxeBuilder({ page }).analyze();
    return violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map(
        (violation) =>
          `${screen}: ${violation.id} (${violation.impact}) on ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
      );
  };
  const optionValue = (select: string, text: string) =>
    page.getByLabel(select, { exact: true }).locator('option', { hasText: text }).first().getAttribute('value');

  /** Upload step to mapping step: the workflow chosen, the CSV given to the file input, Next. */
  const uploadCsv = async (headers: readonly string[], rows: readonly (readonly string[])[]) => {
    await page.goto(url('/'));
    await page.getByRole('button', { name: 'New batch' }).click();
    await page.getByRole('heading', { name: 'Upload CSV' }).waitFor();
    await page.getByLabel('Workflow', { exact: true }).selectOption('w');
    await page.getByLabel('CSV file').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: csvOf(headers, rows) });
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: 'Map columns' }).waitFor();
  };

  it('runs the wizard with a CSV, the batch reaches 100 % on the list without a reload, and the saved mapping comes back', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => [String(i), `note-${i}`]);
    await uploadCsv(['Number', 'Note'], rows);
    await screenshot(page, 'wizard-2-map-columns');
    const toInput = await optionValue('Number', 'Input: n');
    await page.getByLabel('Number', { exact: true }).selectOption(toInput ?? '');
    await page.getByLabel('Note', { exact: true }).selectOption((await optionValue('Note', 'Metadata')) ?? '');
    await page.getByLabel('Note metadata key').fill('note');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'Preview' }).waitFor();
    await page.getByText('20 valid', { exact: true }).waitFor();
    await screenshot(page, 'wizard-3-preview');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByRole('heading', { name: 'Configure' }).waitFor();
    await page.getByLabel('Batch name').fill('wizard run');
    await page.getByLabel('Max concurrent').fill('5');
    await page.getByLabel('Batch interval (seconds)').fill('1');
    // 20 rows, 5 a wave: the plan follows the fields.
    await page.getByText('4 waves', { exact: true }).waitFor();
    await screenshot(page, 'wizard-4-configure');
    await page.getByRole('button', { name: 'Start batch' }).click();

    // The wizard itself is /batches/new: the batch's own page is the next one.
    await page.waitForURL((next) => /^\/batches\/[^/]+$/.test(next.pathname) && next.pathname !== '/batches/new');
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
    await page.getByRole('heading', { name: 'wizard run' }).waitFor();
    await page.evaluate(() => Object.assign(globalThis, { sameDocument: true }));

    // The list, reached by its link (no reload), follows the batch to 100 % by itself.
    await page.getByRole('link', { name: 'Batches' }).click();
    const bar = page.getByRole('progressbar', { name: 'wizard run progress' });
    await eventually(
      () => bar.getAttribute('aria-valuenow'),
      (value) => value === '100',
      30_000,
      'the progress bar at 100',
    );
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await screenshot(page, 'batches');

    // What the wizard sent is what the API holds: each row's n as the input, its Note as metadata.
    const executions = await product.executions<ExecutionView>(id);
    expect(executions).toHaveLength(20);
    expect(executions[7]).toMatchObject({ inputs: { n: '7' }, metadata: { note: 'note-7' } });

    // The same headers, in another order, in a fresh browser: the mapping saved on the server comes back.
    await context.close();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    pageErrors = watchPageErrors(page);
    await uploadCsv(
      ['Note', 'Number'],
      rows.map(([n, note]) => [note ?? '', n ?? '']),
    );
    expect(await page.getByLabel('Number', { exact: true }).inputValue()).toBe(toInput);
    expect(await page.getByLabel('Note metadata key').inputValue()).toBe('note');
  });

  it('pauses with a reason shown in the history, cancels and reschedules one execution, and resumes', async () => {
    const id = await product.createBatch({ name: 'steered', maxConcurrent: 1, batchIntervalSeconds: 2, items: ProductFixture.items(30) });
    await page.goto(url(`/batches/${id}`));
    await page.getByRole('heading', { name: 'steered' }).waitFor();

    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await page.getByLabel('Reason').fill('target maintenance window');
    await page.getByRole('button', { name: 'Confirm' }).click();
    const history = page.getByRole('table', { name: 'History' });
    await history.getByText('target maintenance window').waitFor();
    await history.getByText('BatchPaused').first().waitFor();
    expect((await product.batch<BatchView>(id)).status).toBe('paused');

    await page.getByRole('button', { name: 'Cancel execution 25' }).click();
    await page.getByLabel('Reason').fill('not needed');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await eventually(
      () => api<ExecutionView>('GET', `/v1/executions/${id}.25`),
      (answer) => answer.body.status === 'cancelled',
      10_000,
      'execution 25 cancelled',
    );

    const later = new Date(Date.now() + 24 * 3600_000);
    later.setSeconds(0, 0);
    const local = new Date(later.getTime() - later.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.getByRole('button', { name: 'Reschedule execution 26' }).click();
    await page.getByLabel('New time').fill(local);
    await page.getByLabel('Reason').fill('after the launch');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await eventually(
      () => api<ExecutionView>('GET', `/v1/executions/${id}.26`),
      (answer) => answer.body.executeAt === later.toISOString(),
      10_000,
      'execution 26 rescheduled',
    );
    await screenshot(page, 'batch-detail');

    await page.getByRole('button', { name: 'Resume', exact: true }).click();
    await page.getByLabel('Reason').fill('maintenance over');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await history.getByText('maintenance over').waitFor();
    const types = (await product.history<HistoryEntry>(id)).map((entry) => entry.type);
    expect(types).toEqual(expect.arrayContaining(['BatchPaused', 'BatchResumed']));
  });

  it('downloads the results and the failed items as the API gives them, and retries the failed items', async () => {
    const id = await product.createBatch({ name: 'exported', maxConcurrent: 14, batchIntervalSeconds: 0, items: ProductFixture.items(14) });
    await eventually(
      () => product.batch<BatchView>(id),
      (view) => view.status === 'completed',
      30_000,
      'batch completed',
    );
    await page.goto(url(`/batches/${id}`));
    await page.getByRole('heading', { name: 'exported' }).waitFor();

    for (const [name, query] of [
      ['Download results (CSV)', 'format=csv'],
      ['Download results (JSON)', 'format=json'],
      ['Download failed items (CSV)', 'format=csv&status=failed'],
    ] as const) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()]);
      const saved = readFileSync(await download.path(), 'utf8');
      const fromApi = await (await fetch(url(`/v1/batches/${id}/results?${query}`))).text();
      expect(saved).toBe(fromApi);
      if (query.includes('failed')) expect(saved.trim().split('\n')).toHaveLength(1 + 2);
    }

    await page.getByRole('button', { name: 'Retry failed' }).click();
    await page.waitForURL((next) => next.pathname.startsWith('/batches/') && !next.pathname.endsWith(id));
    const retryId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop() ?? '');
    const retry = await product.batch<BatchView & { parentBatchId?: string }>(retryId);
    expect(retry.progress.total).toBe(2);
    expect(JSON.stringify(retry)).toContain(id);
  });

  it('has no serious or critical accessibility violation on the main screens', async () => {
    const id = await product.createBatch({ name: 'checked', maxConcurrent: 2, batchIntervalSeconds: 1, items: ProductFixture.items(4) });
    const found: string[] = [];
    await page.goto(url('/'));
    await page.getByRole('progressbar', { name: 'checked progress' }).waitFor({ state: 'attached' });
    found.push(...(await seriousViolations('batches')));
    await page.goto(url(`/batches/${id}`));
    await page.getByRole('heading', { name: 'checked' }).waitFor();
    found.push(...(await seriousViolations('batch detail')));
    await uploadCsv(['Number'], [['1']]);
    found.push(...(await seriousViolations('wizard')));
    await page.goto(url('/workflows'));
    await page.getByRole('heading', { name: 'Workflows' }).waitFor();
    await screenshot(page, 'workflows');
    found.push(...(await seriousViolations('workflows')));
    await page.goto(url('/webhooks'));
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await screenshot(page, 'webhooks');
    found.push(...(await seriousViolations('webhooks')));
    expect(found).toEqual([]);
  });

  it('signs in with an API key where keys exist, refuses a wrong one, signs out, and opens a linked batch once signed in', async () => {
    const data = tempDir('flotilla-console-auth-');
    const secured = new PlatformProcess(await freePort(), data.path, { AUTH: 'enabled', CONSOLE_DIR: consoleDir.path });
    try {
      await secured.start();
      const adminKey = readFileSync(join(data.path, 'admin.key'), 'utf8').trim();
      await page.goto(`${secured.url}/batches`);
      await page.getByLabel('API key').fill('flt_not-a-key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('The API key was not accepted').waitFor();
      await screenshot(page, 'sign-in');
      await page.getByLabel('API key').fill(adminKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Batches' }).waitFor();
      expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBeGreaterThan(0);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API key').waitFor();
      expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);

      // A link to a batch, opened signed out: the page reads the batch while it probes the key, and
      // the read refused then is made again once signed in.
      const asAdmin = async <T>(path: string, body: unknown): Promise<T> => {
        const response = await fetch(`${secured.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        expect(response.status).toBe(201);
        return (await response.json()) as T;
      };
      await asAdmin('/v1/workflows', { id: 'linked', name: 'Linked', inputs: [{ name: 'n' }], target: { url: 'http://127.0.0.1:9/run' } });
      const linked = await asAdmin<{ id: string }>('/v1/batches', {
        name: 'linked batch',
        workflowId: 'linked',
        maxConcurrent: 1,
        batchIntervalSeconds: 1,
        startAt: new Date(Date.now() + 3_600_000).toISOString(),
        items: [{ inputs: { n: '1' } }],
      });
      await page.goto(`${secured.url}/batches/${linked.id}`);
      await page.getByLabel('API key').fill(adminKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'linked batch', exact: true }).waitFor();
      expect(await page.getByText('The batch could not be loaded').count()).toBe(0);
    } finally {
      await secured.kill();
      data.remove();
    }
  });
});
