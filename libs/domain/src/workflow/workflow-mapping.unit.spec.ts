import { RuleViolation } from '../shared/errors';
import { MAX_MAPPED_COLUMNS } from '../csv/mapping';
import { decideWorkflow, evolveWorkflow, savedMappingFor, WorkflowNotFound, type WorkflowCommand, type WorkflowState } from './workflow';
import { workflowEvents } from './workflow.registry';

const now = new Date('2026-03-01T10:00:00Z');
const registered: WorkflowCommand = {
  type: 'AddWorkflowVersion',
  workflowId: 'enrich',
  isNew: true,
  definition: {
    name: 'Enrich',
    inputs: [{ name: 'email', required: true }],
    target: { url: 'http://127.0.0.1:9000/run', timeoutMs: 5000, mode: 'sync', callbackTimeoutMs: 60_000 },
    retry: { maxAttempts: 3, backoffMs: 100, maxThrottleSeconds: 3600 },
  },
  actor: 'team-a',
  now,
};
const email = { type: 'input', field: 'email' } as const;
const save = (headers: unknown, mapping: unknown, at = now): WorkflowCommand => ({
  type: 'SaveColumnMapping',
  workflowId: 'enrich',
  headers,
  mapping,
  actor: 'ana',
  now: at,
});
const fold = (...commands: WorkflowCommand[]): WorkflowState =>
  commands.reduce<WorkflowState>((state, command) => decideWorkflow(command, state).reduce(evolveWorkflow, state), null);

const problemsOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof RuleViolation) return error.problems;
    throw error;
  }
  throw new Error('expected a RuleViolation');
};

describe('saving a column mapping', () => {
  it('records ColumnMappingSaved keyed by the sorted set of headers, and finds it for the headers in any order', () => {
    const events = decideWorkflow(
      save(['E-mail', 'Region', 'E-mail'], { 'E-mail': email, Region: { type: 'metadata', key: 'region' } }),
      fold(registered),
    );
    expect(events).toEqual([
      {
        type: 'ColumnMappingSaved',
        data: {
          workflowId: 'enrich',
          columns: ['E-mail', 'Region'],
          mapping: { 'E-mail': email, Region: { type: 'metadata', key: 'region' } },
          occurredAt: now.toISOString(),
          actor: 'ana',
        },
      },
    ]);
    const state = fold(registered, save(['E-mail', 'Region'], { 'E-mail': email, Region: { type: 'metadata', key: 'region' } }));
    expect(state === null ? undefined : savedMappingFor(state, ['Region', 'E-mail'])).toEqual({
      columns: ['E-mail', 'Region'],
      mapping: { 'E-mail': email, Region: { type: 'metadata', key: 'region' } },
      savedAt: now.toISOString(),
      savedBy: 'ana',
    });
    expect(state === null ? 'no state' : savedMappingFor(state, ['E-mail'])).toBeUndefined();
  });

  it('keeps the latest mapping per set of headers, and one per set', () => {
    const later = new Date(now.getTime() + 60_000);
    const state = fold(registered, save(['a', 'b'], { a: email }), save(['c'], { c: email }), save(['b', 'a'], { b: email }, later));
    expect(state?.mappings.map((saved) => [saved.columns, saved.mapping, saved.savedAt])).toEqual([
      [['c'], { c: email }, now.toISOString()],
      [['a', 'b'], { b: email }, later.toISOString()],
    ]);
  });

  it('records nothing when the same mapping is saved again', () => {
    const state = fold(registered, save(['a'], { a: email }));
    expect(decideWorkflow(save(['a'], { a: email }), state)).toEqual([]);
  });

  it('refuses headers that are not 1 to MAX_MAPPED_COLUMNS strings, naming the field', () => {
    const state = fold(registered);
    for (const headers of [[], 'a', [1], Array.from({ length: MAX_MAPPED_COLUMNS + 1 }, (_, i) => `c${i}`)]) {
      expect(problemsOf(() => decideWorkflow(save(headers, {}), state))).toEqual([expect.objectContaining({ field: 'headers' })]);
    }
  });

  it('refuses a mapping naming a column not in headers, naming that column', () => {
    const problems = problemsOf(() => decideWorkflow(save(['a'], { a: email, zz: email }), fold(registered)));
    expect(problems).toEqual([expect.objectContaining({ code: 'invalid_mapping', field: 'mapping.zz' })]);
  });

  it('refuses a mapping of the wrong shape', () => {
    expect(problemsOf(() => decideWorkflow(save(['a'], { a: 42 }), fold(registered))).length).toBeGreaterThan(0);
  });

  it('is for a workflow that exists', () => {
    expect(() => decideWorkflow(save(['a'], { a: email }), null)).toThrow(WorkflowNotFound);
  });

  it('is registered at schema version 1 and read back as written', () => {
    const [event] = decideWorkflow(save(['a'], { a: email }), fold(registered));
    expect(workflowEvents.schemaVersionOf('ColumnMappingSaved')).toBe(1);
    expect(event && workflowEvents.read({ type: event.type, data: event.data, metadata: {} })).toEqual(event);
  });
});
