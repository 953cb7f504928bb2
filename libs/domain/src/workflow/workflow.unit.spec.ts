import { decideWorkflow, evolveWorkflow, findVersion, latestVersion, WorkflowAlreadyExists, WorkflowNotFound, type AddWorkflowVersion, type WorkflowState } from './workflow';
import { RuleViolation } from '../shared/errors';

const definition = {
  name: 'Enrich lead',
  inputs: [{ name: 'email', required: true }],
  target: { url: 'http://127.0.0.1:9000/run', timeoutMs: 5000, mode: 'sync' as const },
  retry: { maxAttempts: 3, backoffMs: 100 },
};
const add = (isNew: boolean, overrides: Partial<typeof definition> = {}): AddWorkflowVersion => ({
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
          target: { url: 'ftp://x', timeoutMs: 0, mode: 'sync' },
          retry: { maxAttempts: 0, backoffMs: -1 },
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
      ]);
    }
  });
});
