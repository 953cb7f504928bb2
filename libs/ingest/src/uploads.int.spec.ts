import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchConfigDto } from './dto';
import { csvRecords, validDto } from './uploads';

describe('CSV records from a spooled upload', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-csv-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const collect = async (path: string, highWater?: number): Promise<string[][]> => {
    const rows: string[][] = [];
    for await (const row of csvRecords(path, highWater)) rows.push(row);
    return rows;
  };

  it('streams every record in order, across read chunks, with quoted commas and newlines, and a slow consumer', async () => {
    const lines = ['email,note'];
    for (let i = 0; i < 60_000; i++) lines.push(i % 1000 === 0 ? `user${i}@x.io,"multi, line\nnote ${i}"` : `user${i}@x.io,note ${i}`);
    const path = join(dir, 'big.csv');
    writeFileSync(path, '\uFEFF' + lines.join('\r\n') + '\r\n\r\n');
    const rows: string[][] = [];
    for await (const row of csvRecords(path, 100)) {
      rows.push(row);
      // A consumer slower than the file: the queue stays bounded, nothing is dropped.
      if (rows.length % 5000 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(rows).toHaveLength(60_001);
    expect(rows[0]).toEqual(['\uFEFFemail', 'note']);
    expect(rows[1]).toEqual(['user0@x.io', 'multi, line\nnote 0']);
    expect(rows[60_000]).toEqual(['user59999@x.io', 'note 59999']);
  });

  it('keeps a multi-byte character that straddles two read chunks of the file', async () => {
    // 2-byte é after a 5-byte header: one of them spans the 256 KiB boundary of the file's reads.
    const lines = ['name', ...Array.from({ length: 3000 }, (_, i) => `${'é'.repeat(99)}${i}`)];
    const path = join(dir, 'accents.csv');
    writeFileSync(path, lines.join('\n') + '\n');
    const rows = await collect(path);
    expect(rows).toHaveLength(3001);
    expect(rows.filter(([cell]) => cell !== undefined && /^é{99}\d+$/.test(cell))).toHaveLength(3000);
  });

  it('an empty file has no records; stopping early releases the file', async () => {
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    expect(await collect(empty)).toEqual([]);
    const path = join(dir, 'rows.csv');
    writeFileSync(path, 'a,b\n1,2\n3,4\n');
    for await (const row of csvRecords(path)) {
      expect(row).toEqual(['a', 'b']);
      break;
    }
    expect(await collect(path)).toEqual([
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
    ]);
  });
});

describe('config of a CSV upload', () => {
  it('is checked like a JSON body, naming fields under config', async () => {
    await expect(
      validDto(BatchConfigDto, { name: 'x', workflowId: 'w', maxConcurrent: 'many', batchIntervalSeconds: 0 }, 'config'),
    ).rejects.toMatchObject({
      response: { details: [{ field: 'config.maxConcurrent', message: 'config.maxConcurrent must be an integer' }] },
    });
    await expect(validDto(BatchConfigDto, ['not', 'an', 'object'], 'config')).rejects.toMatchObject({
      response: { message: 'config must be a JSON object' },
    });
    await expect(
      validDto(BatchConfigDto, { name: 'x', workflowId: 'w', maxConcurrent: 5, batchIntervalSeconds: 1 }, 'config'),
    ).resolves.toBeInstanceOf(BatchConfigDto);
  });
});
