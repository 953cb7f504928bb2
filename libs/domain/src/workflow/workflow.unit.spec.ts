import {
  costOf,
  decideWorkflow,
  evolveWorkflow,
  findVersion,
  latestVersion,
  WorkflowAlreadyExists,
  WorkflowNotFound,
  type AddWorkflowVersion,
  type WorkflowDefinition,
  type WorkflowState,
} from './workflow';
import { workflowEvents } from './workflow.registry';
import { RuleViolation } from '../shared/errors';

const definition: WorkflowDefinition = {
  name: 'Enrich lead',
  inputs: [{ name: 'email', required: true }],
  target: { url: 'http://127.0.0.1:9000/run', timeoutMs: 5000, mode: 'sync' as const, callbackTimeoutMs: 3_600_000 },
  retry: { maxAttempts: 3, backoffMs: 100, maxThrottleSeconds: 3600 },
};
const add = (isNew: boolean, overrides: Partial<WorkflowDefinition> = {}): AddWorkflowVersion => ({
  type: 'AddWorkflowVersion',
  workflowId: 'enrich',
  isNew,
  definition: { ...definition, ...overrides },
  actor: 'team-a',
  now: new Date('2026-01-01T00:00:00Z'),
});
const fold = (...commands: AddWorkflowVersion[]): WorkflowState =>
  commands.reduce<WorkflowState>((state, command) => decideWorkflow(command, state).reduce(evolveWorkflow, state), null);

describe('workflow versions', () => {
  it('registers version 1, then numbers each new version', () => {
    const state = fold(add(true), add(false, { name: 'Enrich lead v2' }));
    expect(state?.versions.map((version) => version.version)).toEqual([1, 2]);
    expect(latestVersion(state!).name).toBe('Enrich lead v2');
    expect(findVersion(state!, 1)?.name).toBe('Enrich lead');
    expect(findVersion(state!, 3)).toBeUndefined();
  });

  it('refuses registering an existing workflow, and versioning a missing one', () => {
    expect(() => fold(add(true), add(true))).toThrow(WorkflowAlreadyExists);
    expect(() => fold(add(false))).toThrow(WorkflowNotFound);
  });

  it('validates the definition, naming fields', () => {
    try {
      fold(
        add(true, {
          inputs: [
            { name: 'email', required: true },
            { name: 'EMAIL', required: false },
            { name: '1bad', required: true },
          ],
          target: { url: 'ftp://x', timeoutMs: 0, mode: 'sync', callbackTimeoutMs: 3_600_000 },
          retry: { maxAttempts: 0, backoffMs: -1, maxThrottleSeconds: 0 },
        }),
      );
      throw new Error('expected a RuleViolation');
    } catch (error) {
      expect(error).toBeInstanceOf(RuleViolation);
      expect((error as RuleViolation).problems.map((problem) => problem.field)).toEqual([
        'inputs[1].name',
        'inputs[2].name',
        'target.url',
        'target.timeoutMs',
        'retry.maxAttempts',
        'retry.backoffMs',
        'retry.maxThrottleSeconds',
      ]);
    }
  });

  const problemsOf = (overrides: Partial<WorkflowDefinition>): { field?: string; message: string }[] => {
    try {
      fold(add(true, overrides));
      return [];
    } catch (error) {
      if (!(error instanceof RuleViolation)) throw error;
      return error.problems.map(({ field, message }) => ({ ...(field === undefined ? {} : { field }), message }));
    }
  };

  it('bounds retry.maxThrottleSeconds: an integer from 1 second to 7 days', () => {
    const retry = (maxThrottleSeconds: number): Partial<WorkflowDefinition> => ({ retry: { ...definition.retry, maxThrottleSeconds } });
    expect(problemsOf(retry(1))).toEqual([]);
    expect(problemsOf(retry(604_800))).toEqual([]);
    for (const bad of [0, 604_801, 1.5, Number.NaN])
      expect(problemsOf(retry(bad))).toEqual([
        { field: 'retry.maxThrottleSeconds', message: 'retry.maxThrottleSeconds must be an integer from 1 to 604800 (7 days)' },
      ]);
  });

  it('checks a declared cost: perExecution a number >= 0, currency 3 uppercase letters', () => {
    expect(problemsOf({ cost: { perExecution: 0.1, currency: 'USD' } })).toEqual([]);
    expect(problemsOf({ cost: { perExecution: 0, currency: 'EUR' } })).toEqual([]);
    expect(problemsOf({ cost: { perExecution: -1, currency: 'usd' } })).toEqual([
      { field: 'cost.perExecution', message: 'cost.perExecution must be a number >= 0' },
      { field: 'cost.currency', message: 'cost.currency must be 3 uppercase letters, like USD' },
    ]);
    expect(problemsOf({ cost: { perExecution: Number.NaN, currency: 'US' } }).map((problem) => problem.field)).toEqual([
      'cost.perExecution',
      'cost.currency',
    ]);
  });

  it('checks declared defaults: maxConcurrent an integer from 1 to 10000, batchIntervalSeconds a number >= 0; either may be left out', () => {
    expect(problemsOf({ defaults: { maxConcurrent: 10, batchIntervalSeconds: 1.5 } })).toEqual([]);
    expect(problemsOf({ defaults: {} })).toEqual([]);
    expect(problemsOf({ defaults: { batchIntervalSeconds: 0 } })).toEqual([]);
    expect(problemsOf({ defaults: { maxConcurrent: 0, batchIntervalSeconds: -1 } })).toEqual([
      { field: 'defaults.maxConcurrent', message: 'defaults.maxConcurrent must be an integer from 1 to 10000' },
      { field: 'defaults.batchIntervalSeconds', message: 'defaults.batchIntervalSeconds must be a number >= 0' },
    ]);
    expect(problemsOf({ defaults: { maxConcurrent: 2.5 } }).map((problem) => problem.field)).toEqual(['defaults.maxConcurrent']);
  });

  it('estimates a cost rounded to 6 decimals', () => {
    expect(costOf(3, { perExecution: 0.1, currency: 'USD' })).toEqual({ amount: 0.3, currency: 'USD' });
    expect(costOf(7, { perExecution: 0.0000001, currency: 'USD' })).toEqual({ amount: 0.000001, currency: 'USD' });
    expect(costOf(0, { perExecution: 2, currency: 'EUR' })).toEqual({ amount: 0, currency: 'EUR' });
  });
  const target = (overrides: Partial<WorkflowDefinition['target']>): Partial<WorkflowDefinition> => ({
    target: { ...definition.target, ...overrides },
  });

  it('caps one call of the target at 15 minutes, sync or async', () => {
    expect(problemsOf(target({ timeoutMs: 900_000 }))).toEqual([]);
    for (const mode of ['sync', 'async'] as const) {
      expect(problemsOf(target({ timeoutMs: 900_001, mode }))).toEqual([
        { field: 'target.timeoutMs', message: 'target.timeoutMs must be an integer from 1 to 900000 (15 minutes, one call of the target)' },
      ]);
    }
  });

  it('gives the callback of an async target its own timeout, 1 ms to 24 hours', () => {
    expect(problemsOf(target({ mode: 'async', timeoutMs: 1000, callbackTimeoutMs: 86_400_000 }))).toEqual([]);
    for (const callbackTimeoutMs of [0, 86_400_001, 1.5]) {
      expect(problemsOf(target({ mode: 'async', callbackTimeoutMs }))).toEqual([
        { field: 'target.callbackTimeoutMs', message: 'target.callbackTimeoutMs must be an integer from 1 to 86400000 (24 hours)' },
      ]);
    }
  });

  it('accepts limits.maxInFlight from 1 to 10000, and no limits at all', () => {
    expect(problemsOf({ limits: { maxInFlight: 1 } })).toEqual([]);
    expect(problemsOf({ limits: { maxInFlight: 10_000 } })).toEqual([]);
    expect(problemsOf({ limits: {} })).toEqual([]);
    for (const maxInFlight of [0, 10_001, 2.5]) {
      expect(problemsOf({ limits: { maxInFlight } })).toEqual([
        { field: 'limits.maxInFlight', message: 'limits.maxInFlight must be an integer from 1 to 10000' },
      ]);
    }
    expect(latestVersion(fold(add(true, { limits: { maxInFlight: 7 } }))!).limits).toEqual({ maxInFlight: 7 });
  });

  it('accepts limits.maxPerSecond from 1 to 10000, beside maxInFlight', () => {
    expect(problemsOf({ limits: { maxPerSecond: 1 } })).toEqual([]);
    expect(problemsOf({ limits: { maxInFlight: 3, maxPerSecond: 10_000 } })).toEqual([]);
    for (const maxPerSecond of [0, 10_001, 0.5, -1]) {
      expect(problemsOf({ limits: { maxPerSecond } })).toEqual([
        { field: 'limits.maxPerSecond', message: 'limits.maxPerSecond must be an integer from 1 to 10000' },
      ]);
    }
    expect(latestVersion(fold(add(true, { limits: { maxInFlight: 2, maxPerSecond: 5 } }))!).limits).toEqual({
      maxInFlight: 2,
      maxPerSecond: 5,
    });
  });

  it('reads a version stored before callbackTimeoutMs existed through the upcaster: its callback keeps waiting timeoutMs, its call is capped', () => {
    // What WorkflowVersionAdded looked like before: no callbackTimeoutMs, no limits.
    const legacy = {
      type: 'WorkflowVersionAdded',
      data: {
        workflowId: 'old',
        version: 1,
        name: 'Old async',
        inputs: [],
        target: { url: 'http://127.0.0.1:9000/run', timeoutMs: 7_200_000, mode: 'async' },
        retry: { maxAttempts: 1, backoffMs: 0 },
        occurredAt: '2025-01-01T00:00:00.000Z',
        actor: 'a',
      },
    };
    const version = latestVersion(evolveWorkflow(null, workflowEvents.read(legacy)!)!);
    expect(version.target).toEqual({ url: 'http://127.0.0.1:9000/run', timeoutMs: 900_000, mode: 'async', callbackTimeoutMs: 7_200_000 });
    expect(version.limits).toBeUndefined();
  });
});
