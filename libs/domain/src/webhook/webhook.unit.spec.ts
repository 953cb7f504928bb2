import { RuleViolation } from '../shared/errors';
import {
  EXTEND_WEBHOOK_EVENT_TYPES,
  NOTIFIED_BATCH_EVENT_TYPES,
  extendTypeOf,
  WEBHOOK_EVENT_TYPES,
  WebhookAlreadyExists,
  decideWebhookRegistry,
  evolveWebhookRegistry,
  initialWebhookRegistry,
  validateRegistration,
  webhookOf,
  webhookTypeOf,
  type RegisterWebhook,
} from './webhook';

/** What the application's SecretBox would have made of the secret: the domain records it as given. */
const sealed = { v: 1, iv: 'aXY=', tag: 'dGFn', ct: 'Y3Q=' } as const;

const register = (fields: Omit<RegisterWebhook, 'type' | 'webhookId' | 'sealedSecret'>, webhookId: string): RegisterWebhook => ({
  type: 'RegisterWebhook',
  webhookId,
  ...fields,
  sealedSecret: sealed,
});

const valid = { url: 'https://example.com/hooks', events: ['batch.started'], secret: '12345678' };
const now = new Date('2026-05-01T00:00:00Z');

describe('webhook registration rules', () => {
  it('accepts http and https URLs, every known event type and a secret of 8 characters', () => {
    expect(validateRegistration(valid)).toEqual([]);
    expect(
      validateRegistration({ ...valid, url: 'http://127.0.0.1:8080/x?y=1', events: [...WEBHOOK_EVENT_TYPES], workflowId: 'wf' }),
    ).toEqual([]);
  });

  it('names the field and the offending value of every broken rule', () => {
    const problems = validateRegistration({
      url: 'ftp://example.com/x',
      events: ['batch.started', 'batch.exploded'],
      secret: 'short',
      workflowId: ' ',
    });
    expect(problems.map((problem) => problem.field)).toEqual(['url', 'events[1]', 'secret', 'workflowId']);
    expect(problems[0]!.message).toContain('"ftp://example.com/x"');
    expect(problems[1]).toMatchObject({ code: 'unknown_event_type', field: 'events[1]' });
    expect(problems[1]!.message).toContain('"batch.exploded"');
  });

  it('refuses a relative or unparsable URL, no event types and an empty secret', () => {
    expect(validateRegistration({ ...valid, url: '/hooks' }).map((problem) => problem.field)).toEqual(['url']);
    expect(validateRegistration({ ...valid, url: 'not a url' }).map((problem) => problem.field)).toEqual(['url']);
    expect(validateRegistration({ ...valid, events: [] }).map((problem) => problem.code)).toEqual(['no_events']);
    expect(validateRegistration({ ...valid, secret: '' }).map((problem) => problem.field)).toEqual(['secret']);
  });

  it('throws a RuleViolation for an invalid registration; keeps each event type once in a valid one', () => {
    expect(() => decideWebhookRegistry(register({ ...valid, secret: 'x', actor: 'ops', now }, 'whk_1'), initialWebhookRegistry())).toThrow(
      RuleViolation,
    );
    const [event] = decideWebhookRegistry(
      register({ ...valid, events: ['batch.started', 'batch.started', 'execution.failed'], actor: 'ops', now }, 'whk_1'),
      initialWebhookRegistry(),
    );
    if (event === undefined) throw new Error('no registration');
    expect(event.data).toEqual({
      webhookId: 'whk_1',
      url: valid.url,
      events: ['batch.started', 'execution.failed'],
      secret: sealed,
      occurredAt: now.toISOString(),
      actor: 'ops',
    });
    expect(webhookOf(event)).toEqual({
      id: 'whk_1',
      url: valid.url,
      events: ['batch.started', 'execution.failed'],
      workflowId: null,
      format: 'flotilla',
      createdAt: now.toISOString(),
      createdBy: 'ops',
    });
  });
});

describe('the webhook registry decider', () => {
  it('registers an id once: a second registration of it is refused as already existing', () => {
    const registration = register({ ...valid, actor: 'ops', now }, 'whk_2');
    const state = decideWebhookRegistry(registration, initialWebhookRegistry()).reduce(evolveWebhookRegistry, initialWebhookRegistry());
    expect(state.ids).toEqual(new Set(['whk_2']));
    expect(() => decideWebhookRegistry(registration, state)).toThrow(WebhookAlreadyExists);
    expect(decideWebhookRegistry(register({ ...valid, actor: 'ops', now }, 'whk_3'), state)).toHaveLength(1);
  });
});

describe('webhook formats', () => {
  it('takes the Extend event types only with format extend, and the Flotilla ones only without it', () => {
    expect(validateRegistration({ ...valid, format: 'extend', events: [...EXTEND_WEBHOOK_EVENT_TYPES] })).toEqual([]);
    expect(validateRegistration({ ...valid, format: 'flotilla' })).toEqual([]);
    expect(validateRegistration({ ...valid, format: 'extend', events: ['batch.started'] }).map((problem) => problem.field)).toEqual([
      'events[0]',
    ]);
    expect(validateRegistration({ ...valid, events: ['workflow_run.completed'] }).map((problem) => problem.code)).toEqual([
      'unknown_event_type',
    ]);
    expect(validateRegistration({ ...valid, format: 'zapier' }).map((problem) => problem.field)).toEqual(['format']);
  });

  it('records the format only when it is extend, and reads a registration without one as flotilla', () => {
    const [extend] = decideWebhookRegistry(
      register({ ...valid, format: 'extend', events: ['workflow_run.failed'], actor: 'ops', now }, 'whk_e'),
      initialWebhookRegistry(),
    );
    expect(extend!.data.format).toBe('extend');
    expect(webhookOf(extend!)).toMatchObject({ format: 'extend', events: ['workflow_run.failed'] });
    const [plain] = decideWebhookRegistry(register({ ...valid, actor: 'ops', now }, 'whk_f'), initialWebhookRegistry());
    expect('format' in plain!.data).toBe(false);
    expect(webhookOf(plain!).format).toBe('flotilla');
  });
});

describe('webhook event types', () => {
  it('maps each notified batch event to its public type, one to one; ExecutionCancelled only goes out in the Extend format', () => {
    expect(NOTIFIED_BATCH_EVENT_TYPES.filter((type) => type !== 'ExecutionCancelled').map(webhookTypeOf)).toEqual([
      'batch.started',
      'batch.paused',
      'batch.resumed',
      'batch.reconfigured',
      'batch.held',
      'batch.released',
      'batch.cancelled',
      'batch.completed',
      'batch.settled',
      'batch.retried',
      'batch.throttled',
      'batch.throttle_lifted',
      'execution.completed',
      'execution.failed',
    ]);
    expect(new Set(NOTIFIED_BATCH_EVENT_TYPES.map(webhookTypeOf).filter((type) => type !== undefined))).toEqual(
      new Set(WEBHOOK_EVENT_TYPES),
    );
    expect(webhookTypeOf('ExecutionCancelled')).toBeUndefined();
  });

  it('maps outcomes and cancellations to the Extend types, a batch-wide cancel included', () => {
    expect(['ExecutionCompleted', 'ExecutionFailed', 'ExecutionCancelled', 'BatchCancelled'].map(extendTypeOf)).toEqual([
      'workflow_run.completed',
      'workflow_run.failed',
      'workflow_run.cancelled',
      'workflow_run.cancelled',
    ]);
    for (const type of ['BatchStarted', 'ExecutionTriggered', 'toString']) expect(extendTypeOf(type)).toBeUndefined();
    expect(NOTIFIED_BATCH_EVENT_TYPES).toEqual(expect.arrayContaining(['ExecutionCancelled', 'BatchCancelled']));
  });

  it('maps nothing else, not even inherited property names', () => {
    for (const type of ['WaveDue', 'ExecutionTriggered', 'BatchCreated', 'toString', 'constructor'])
      expect(webhookTypeOf(type)).toBeUndefined();
  });
});
