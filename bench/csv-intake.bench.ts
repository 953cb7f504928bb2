/**
 * CSV intake, embedded mode: a file of N rows (default 1,000,000) uploaded to POST /v1/batches of
 * the built product (`dist/apps/standalone`), timed from the start of the request to the 201. Two
 * files, each written to disk first and sent from there:
 *  - narrow: `email,first_name,company`, the two inputs auto-mapped, the third skipped;
 *  - wide: `Email,First Name,Company,Note,Customer ID`, the inputs auto-mapped from the headers,
 *    Company and Customer ID mapped to metadata, Note skipped, Company quoted with a comma in it
 *    (real CSVs have more columns than inputs).
 * Each upload goes to a fresh product process, so the server's peak RSS (VmHWM) printed is that
 * intake's. For reference it also prints papaparse alone streaming the same file with the same
 * options, in this process. During each upload another client reads `GET /v1/workflows/bench`,
 * one read after the other every 50 ms, and the bench prints how long those reads took: what a
 * million-row intake costs everyone else using the API.
 *
 * `--refused` makes the file's last row invalid (its email empty): the upload is refused with 422
 * after every chunk before it was written, and the bench goes on reading for REFUSED_SETTLE_MS
 * after the answer, while the product discards those chunks, then prints what the state database
 * holds: its size, and how much of it is free pages that the next intake reuses.
 *
 *   npm run build && node dist/bench/csv-intake.bench.js [--rows 1000000] [--files narrow,wide]
 *     [--runs 1] [--refused] [--profile /tmp/prof-csv] [--node-options "--max-old-space-size=256"]
 *
 * `--profile DIR` runs the product with `--cpu-prof --cpu-prof-dir=DIR`; summarise the profile
 * with `node scripts/cpuprofile-summary.mjs DIR/<file>.cpuprofile`.
 */
import { createReadStream, createWriteStream, existsSync, mkdtempSync, openAsBlob, readFileSync, rmSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import Papa from 'papaparse';
import { CSV_PARSE_OPTIONS } from '@flotilla/domain';
import { setTimeout as sleep } from 'node:timers/promises';
import { Product, peakRssMb, percentile, registerBenchWorkflow, startTarget } from './support';

/** How often another client's GET goes out during an upload (one at a time). */
const PROBE_EVERY_MS = 50;
/** With `--refused`: how long the reads go on after the 422, while the product discards the chunks. */
const REFUSED_SETTLE_MS = 5000;

const arg = (name: string, fallback: string): string => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
};
const rows = Number(arg('rows', '1000000'));
const runs = Number(arg('runs', '1'));
const fileNames = arg('files', 'narrow,wide').split(',');
const profileDir = arg('profile', '');
const refused = process.argv.includes('--refused');
const nodeOptions = [arg('node-options', ''), profileDir === '' ? '' : `--cpu-prof --cpu-prof-dir=${profileDir}`].join(' ').trim();

interface BenchFile {
  readonly header: string;
  readonly row: (i: number) => string;
  readonly mapping: Record<string, unknown>;
}

const FILES: Record<string, BenchFile> = {
  narrow: {
    header: 'email,first_name,company',
    row: (i) => `user${i}@example.com,Name${i},Company ${i % 1000}`,
    mapping: {},
  },
  wide: {
    header: 'Email,First Name,Company,Note,Customer ID',
    row: (i) => `user${i}@example.com,Name${i},"Company ${i % 1000}, Inc.",Met at event ${i % 50},C-${100000 + i}`,
    mapping: {
      Company: { type: 'metadata', key: 'company' },
      'Customer ID': { type: 'metadata', key: 'customerId' },
      Note: { type: 'skip' },
    },
  },
};

/** Writes the file in blocks of lines, waiting for the stream to drain. */
const writeCsv = async (path: string, file: BenchFile): Promise<void> => {
  const out = createWriteStream(path);
  out.write(file.header + '\n');
  for (let start = 0; start < rows; start += 10_000) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(rows, start + 10_000); i++)
      lines.push(refused && i === rows - 1 ? file.row(i).replace(/^[^,]*/, '') : file.row(i));
    if (!out.write(lines.join('\n') + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
};

/** papaparse alone: the file streamed through it with the product's options, records counted. */
const papaparseAlone = async (path: string): Promise<{ seconds: number; records: number }> => {
  const started = performance.now();
  const parser = Papa.parse(Papa.NODE_STREAM_INPUT, CSV_PARSE_OPTIONS);
  let records = 0;
  parser.on('data', () => records++);
  const ended = once(parser, 'end');
  createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(parser);
  await ended;
  return { seconds: (performance.now() - started) / 1000, records };
};

/**
 * Of the product's main thread (the event loop), from /proc (Linux): seconds on a core, and seconds
 * runnable but waiting for one. On a machine shared with other work the first is steadier than the
 * wall time; the wall time less both is what the thread spent blocked (fsync, reads) or idle.
 */
const schedSeconds = (pid: number): { onCpu: number; waiting: number } => {
  const [onCpu, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { onCpu: (onCpu ?? 0) / 1e9, waiting: (waiting ?? 0) / 1e9 };
};

interface Settled {
  /** Another client's reads after the 422, while the chunks are discarded. */
  readonly probes: number[];
  readonly mb: number;
  readonly freeMb: number;
  readonly executionItems: number;
}

/** The state database once settled: its size (with the WAL), the free pages in it, the items rows left. */
const stateDbPages = (dataDir: string): Omit<Settled, 'probes'> => {
  const path = join(dataDir, 'standalone-state.sqlite');
  const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const pageSize = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    const free = (db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count;
    const items = (db.prepare('SELECT count(*) AS n FROM execution_items').get() as { n: number }).n;
    return { mb: bytes / 1024 / 1024, freeMb: (free * pageSize) / 1024 / 1024, executionItems: items };
  } finally {
    db.close();
  }
};

const upload = async (
  path: string,
  file: BenchFile,
  targetUrl: string,
): Promise<{ seconds: number; onCpu: number; waiting: number; peakMb: number; probes: number[]; settled?: Settled }> => {
  const product = new Product(nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions });
  await product.start();
  try {
    await registerBenchWorkflow(product, targetUrl);
    const form = new FormData();
    form.append(
      'config',
      JSON.stringify({
        name: `csv ${rows}`,
        workflowId: 'bench',
        // Far in the future: this measures intake, not execution.
        startAt: '2099-01-01T00:00:00Z',
        maxConcurrent: 1000,
        batchIntervalSeconds: 60,
        mapping: file.mapping,
      }),
    );
    form.append('file', await openAsBlob(path), 'rows.csv');
    const pid = product.child?.pid ?? 0;
    const before = schedSeconds(pid);
    const started = performance.now();
    const uploading = refused
      ? fetch(`${product.url}/v1/batches`, { method: 'POST', body: form }).then(async (response) => {
          await response.arrayBuffer();
          if (response.status !== 422) throw new Error(`a refused upload answered ${response.status}`);
          return { id: '', total: rows };
        })
      : product.json<{ id: string; total: number }>('POST', '/v1/batches', form);
    // Another client's request meanwhile, one after the other: how long the upload keeps the API from answering.
    const probes: number[] = [];
    let done = false;
    const probing = (async () => {
      while (!done) {
        const sent = performance.now();
        await (await fetch(`${product.url}/v1/workflows/bench`)).arrayBuffer();
        probes.push(performance.now() - sent);
        await sleep(PROBE_EVERY_MS);
      }
    })();
    // The reads made by the answer are the upload's; with --refused, those after it are the discard's.
    let answeredAt = 0;
    let seconds = 0;
    const answered = uploading.then(async (created) => {
      seconds = (performance.now() - started) / 1000;
      answeredAt = probes.length;
      if (refused) await sleep(REFUSED_SETTLE_MS);
      return created;
    });
    const created = await answered.finally(() => (done = true));
    await probing;
    if (created.total !== rows) throw new Error(`accepted ${created.total} of ${rows}`);
    const after = schedSeconds(pid);
    return {
      seconds,
      onCpu: after.onCpu - before.onCpu,
      waiting: after.waiting - before.waiting,
      peakMb: peakRssMb(pid),
      probes: probes.slice(0, answeredAt),
      ...(refused ? { settled: { probes: probes.slice(answeredAt), ...stateDbPages(product.dataDir) } } : {}),
    };
  } finally {
    await product.stop();
  }
};

async function main(): Promise<void> {
  const target = await startTarget();
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-csv-bench-'));
  try {
    console.log(`CSV intake, embedded mode: ${rows} rows, POST /v1/batches to 201, a fresh product process per upload`);
    for (const name of fileNames) {
      const file = FILES[name];
      if (file === undefined) throw new Error(`unknown file ${name}; one of ${Object.keys(FILES).join(', ')}`);
      const path = join(dir, `${name}.csv`);
      await writeCsv(path, file);
      const mb = (statSync(path).size / 1024 / 1024).toFixed(0);
      const parsed = await papaparseAlone(path);
      if (parsed.records !== rows + 1) throw new Error(`papaparse read ${parsed.records} records of ${rows + 1}`);
      console.log(`${name}\t${mb} MB\tpapaparse alone\t${parsed.seconds.toFixed(2)} s\t${Math.round(rows / parsed.seconds)} rows/s`);
      for (let run = 0; run < runs; run++) {
        const { seconds, onCpu, waiting, peakMb, probes, settled } = await upload(path, file, target.url);
        console.log(
          `${name}\t${mb} MB\t${refused ? 'refused (422)' : 'intake'}\t${seconds.toFixed(2)} s\t${Math.round(rows / seconds)} rows/s\t` +
            `event loop on CPU ${onCpu.toFixed(2)} s, waiting for a core ${waiting.toFixed(2)} s\tserver peak RSS ${peakMb.toFixed(0)} MB`,
        );
        const sorted = [...probes].sort((a, b) => a - b);
        const ms = (value: number | undefined): string => `${(value ?? Number.NaN).toFixed(1)} ms`;
        console.log(
          `${name}\t${mb} MB\tanother client's GET during the upload\t${probes.length} reads\t` +
            `p50 ${ms(percentile(sorted, 50))}\tp99 ${ms(percentile(sorted, 99))}\tmax ${ms(sorted.at(-1))}`,
        );
        if (settled !== undefined) {
          const after = [...settled.probes].sort((a, b) => a - b);
          console.log(
            `${name}\t${mb} MB\tafter the 422 (${REFUSED_SETTLE_MS / 1000} s)\tanother client's GET\t${after.length} reads\t` +
              `p50 ${ms(percentile(after, 50))}\tmax ${ms(after.at(-1))}\tstate DB ${settled.mb.toFixed(0)} MB, ` +
              `${settled.freeMb.toFixed(0)} MB of it free pages\texecution_items rows left ${settled.executionItems}`,
          );
        }
      }
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await target.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
