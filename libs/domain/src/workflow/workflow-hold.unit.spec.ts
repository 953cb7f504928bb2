import { RuleViolation } from '../shared/errors';
import {
  decideWorkflow,
  evolveWorkflow,
  MAX_HOLD_REASON_LENGTH,
  WorkflowAlreadyHeld,
  WorkflowNotFound,
  WorkflowNotHeld,
  type WorkflowCommand,
  type WorkflowState,
} from './workflow';
import { workflowEvents } from './workflow.registry';

const now = new Date('2026-03-01T10:00:00Z');
const registered: WorkflowCommand = {
  type: 'AddWorkflowVersion',
  workflowId: 'enrich',
  isNew: true,
  definition: {
    name: 'Enrich',
    inputs: [],
    target: { url: 'http://127.0.0.1:9000/run', timeoutMs: 5000, mode: 'sync', callbackTimeoutMs: 60_000 },
    retry: { maxAttempts: 3, backoffMs: 100, maxThrottleSeconds: 3600 },
  },
  actor: 'team-a',
  now,
};
const hold = (reason = 'target maintenance'): WorkflowCommand => ({
  type: 'HoldWorkflow',
  workflowId: 'enrich',
  reason,
  actor: 'ops',
  now,
});
const release = (reason = 'maintenance over'): WorkflowCommand => ({
  type: 'ReleaseWorkflow',
  workflowId: 'enrich',
  reason,
  actor: 'ops',
  now: new Date(now.getTime() + 60_000),
});
const fold = (...commands: WorkflowCommand[]): WorkflowState =>
  commands.reduce<WorkflowState>((state, command) => decideWorkflow(command, state).reduce(evolveWorkflow, state), null);

describe('holding a workflow', () => {
  it('is not held when registered', () => {
    expect(fold(registered)?.held).toBeNull();
  });

  it('records WorkflowHeld with the reason and actor, and the state knows since when', () => {
    const state = fold(registered);
    expect(decideWorkflow(hold(), state)).toEqual([
      { type: 'WorkflowHeld', data: { workflowId: 'enrich', reason: 'target maintenance', occurredAt: now.toISOString(), actor: 'ops' } },
    ]);
    expect(fold(registered, hold())?.held).toEqual({ since: now.toISOString(), reason: 'target maintenance', actor: 'ops' });
  });

  it('releases a held workflow with WorkflowReleased, and it is no longer held', () => {
    const state = fold(registered, hold());
    const events = decideWorkflow(release(), state);
    expect(events).toMatchObject([{ type: 'WorkflowReleased', data: { reason: 'maintenance over', actor: 'ops' } }]);
    expect(fold(registered, hold(), release())?.held).toBeNull();
  });

  it('refuses to hold a held workflow, and to release one that is not held (409)', () => {
    expect(() => decideWorkflow(hold(), fold(registered, hold()))).toThrow(WorkflowAlreadyHeld);
    expect(() => decideWorkflow(release(), fold(registered))).toThrow(WorkflowNotHeld);
    expect(() => decideWorkflow(release(), fold(registered, hold(), release()))).toThrow(WorkflowNotHeld);
    try {
      decideWorkflow(hold(), fold(registered, hold()));
    } catch (error) {
      expect(error).toMatchObject({ kind: 'conflict', code: 'workflow_already_held' });
    }
  });

  it('refuses an unknown workflow (404)', () => {
    expect(() => decideWorkflow(hold(), null)).toThrow(WorkflowNotFound);
    expect(() => decideWorkflow(release(), null)).toThrow(WorkflowNotFound);
  });

  it.each([[''], ['   '], ['x'.repeat(MAX_HOLD_REASON_LENGTH + 1)]])('refuses the reason %j, naming the field (422)', (reason) => {
    const state = fold(registered);
    expect(() => decideWorkflow(hold(reason), state)).toThrow(RuleViolation);
    try {
      decideWorkflow(hold(reason), state);
    } catch (error) {
      expect((error as RuleViolation).problems).toEqual([expect.objectContaining({ field: 'reason' })]);
    }
    expect(() => decideWorkflow(release(reason), fold(registered, hold()))).toThrow(RuleViolation);
  });

  it('keeps the hold across a new version, and registers both events', () => {
    const addVersion: WorkflowCommand = { ...(registered as Extract<WorkflowCommand, { type: 'AddWorkflowVersion' }>), isNew: false };
    expect(fold(registered, hold(), addVersion)?.held?.reason).toBe('target maintenance');
    expect(workflowEvents.has('WorkflowHeld')).toBe(true);
    expect(workflowEvents.has('WorkflowReleased')).toBe(true);
  });
});
