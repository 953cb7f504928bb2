import { IsoTimes, executionResultJson, toExecutionResult, type StoredResult } from './batch-results';

interface Row {
  idx: number;
  state: StoredResult[1];
  execute_at: number | null;
  triggered_at: string | null;
  finished_at: string | null;
  cancelled_at: string | null;
  attempts: number;
  output: string | null;
  error: string | null;
  inputs: string;
  profile: string | null;
  metadata: string | null;
}

const stored = (over: Partial<Row>): StoredResult => {
  const row: Row = {
    idx: 0,
    state: 'pending',
    execute_at: Date.UTC(2030, 0, 1),
    triggered_at: null,
    finished_at: null,
    cancelled_at: null,
    attempts: 0,
    output: null,
    error: null,
    inputs: '{"email":"a@x.io","n":1}',
    profile: null,
    metadata: '{}',
    ...over,
  };
  const { idx, state, execute_at, triggered_at, finished_at, cancelled_at, attempts, output, error, inputs, profile, metadata } = row;
  return [idx, state, execute_at, triggered_at, finished_at, cancelled_at, attempts, output, error, inputs, profile, metadata];
};

describe('execution results', () => {
  const rows: StoredResult[] = [
    stored({}),
    stored({ idx: 7, state: 'triggered', triggered_at: '2030-01-01T00:00:00.010Z', attempts: 1, profile: 'gold "vip"' }),
    stored({
      idx: 8,
      state: 'completed',
      attempts: 2,
      output: JSON.stringify({ echo: 'é\n"q"', list: [1, null] }),
      finished_at: '2030-01-01T00:00:01.000Z',
      metadata: JSON.stringify({ team: 'red', note: '=1' }),
    }),
    stored({ idx: 9, state: 'failed', attempts: 1, error: 'HTTP 422 "no"\n\u2028', finished_at: '2030-01-01T00:00:02.000Z' }),
    stored({ idx: 10, state: 'cancelled', execute_at: null, cancelled_at: '2030-01-01T00:00:03.000Z', metadata: null }),
    stored({ idx: 11, state: 'completed', output: 'null', attempts: 1, finished_at: '2030-01-01T00:00:04.000Z' }),
  ];

  it('writes the JSON of a stored row exactly as JSON.stringify of its result object', () => {
    for (const row of rows) {
      expect(executionResultJson('bat_1', row, new IsoTimes())).toBe(JSON.stringify(toExecutionResult('bat_1', row, new IsoTimes())));
    }
  });

  it('answers the outcome fields: finishedAt is the cancel time of a cancelled execution, metadata {} when none', () => {
    const results = rows.map((row) => toExecutionResult('bat_1', row, new IsoTimes()));
    expect(results.map((result) => [result.id, result.status, result.finishedAt])).toEqual([
      ['bat_1.0', 'pending', null],
      ['bat_1.7', 'triggered', null],
      ['bat_1.8', 'completed', '2030-01-01T00:00:01.000Z'],
      ['bat_1.9', 'failed', '2030-01-01T00:00:02.000Z'],
      ['bat_1.10', 'cancelled', '2030-01-01T00:00:03.000Z'],
      ['bat_1.11', 'completed', '2030-01-01T00:00:04.000Z'],
    ]);
    expect(results[0]?.executeAt).toBe('2030-01-01T00:00:00.000Z');
    expect(results[4]).toMatchObject({ executeAt: null, metadata: {} });
    expect(results[2]).toMatchObject({ output: { echo: 'é\n"q"', list: [1, null] }, metadata: { team: 'red', note: '=1' } });
  });

  it('gives each execute time its own ISO string, reusing the last one within a wave', () => {
    const times = new IsoTimes();
    expect([times.of(0), times.of(0), times.of(60_000), times.of(null)]).toEqual([
      '1970-01-01T00:00:00.000Z',
      '1970-01-01T00:00:00.000Z',
      '1970-01-01T00:01:00.000Z',
      null,
    ]);
  });
});
