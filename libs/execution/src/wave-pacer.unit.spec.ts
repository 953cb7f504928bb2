import type { BatchSettings } from '@flotilla/domain';
import { WavePacer, pacingOf } from './wave-pacer';

const settings = (overrides: Partial<BatchSettings>): BatchSettings => ({
  name: 'b',
  workflowId: 'wf',
  workflowVersion: 1,
  startAt: new Date(0).toISOString(),
  maxConcurrent: 3,
  batchIntervalSeconds: 2,
  priority: 50,
  metadata: {},
  catchUp: 'paced',
  ...overrides,
});

describe('pacingOf', () => {
  it('paces a paced batch with an interval: a wave of first calls per interval less a twentieth of it, at most 50 ms, in its plan', () => {
    expect(pacingOf({ plan: 0, settings: settings({}) })).toEqual({ plan: 0, calls: 3, windowMs: 1950 });
    expect(pacingOf({ plan: 2, settings: settings({ batchIntervalSeconds: 0.5, maxConcurrent: 1 }) })).toEqual({
      plan: 2,
      calls: 1,
      windowMs: 475,
    });
  });

  it('does not pace a burst batch, nor one with interval 0', () => {
    expect(pacingOf({ plan: 0, settings: settings({ catchUp: 'burst' }) })).toBeNull();
    expect(pacingOf({ plan: 0, settings: settings({ batchIntervalSeconds: 0 }) })).toBeNull();
  });
});

describe('WavePacer', () => {
  const pacing = { plan: 0, calls: 2, windowMs: 950 };
  let nowMs: number;
  let pacer: WavePacer;
  beforeEach(() => {
    nowMs = 1_000_000;
    pacer = new WavePacer(() => nowMs);
  });

  it("lets a wave's worth of first calls go, then holds the next until the window after the first of them has passed", () => {
    // Three waves of two delivered late, at once.
    expect(pacer.mayStart('b', pacing)).toBe(true);
    pacer.started('b', pacing);
    nowMs += 30;
    expect(pacer.mayStart('b', pacing)).toBe(true);
    pacer.started('b', pacing);
    expect(pacer.mayStart('b', pacing)).toBe(false);
    nowMs += 919;
    expect(pacer.mayStart('b', pacing)).toBe(false);
    // 950 ms after the first start: one more may go; the second has to wait for the second's window.
    nowMs += 1;
    expect(pacer.mayStart('b', pacing)).toBe(true);
    pacer.started('b', pacing);
    expect(pacer.mayStart('b', pacing)).toBe(false);
    nowMs += 30;
    expect(pacer.mayStart('b', pacing)).toBe(true);
  });

  it('paces each batch on its own, and an unpaced one not at all', () => {
    pacer.started('a', pacing);
    pacer.started('a', pacing);
    expect(pacer.mayStart('a', pacing)).toBe(false);
    expect(pacer.mayStart('b', pacing)).toBe(true);
    expect(pacer.mayStart('a', null)).toBe(true);
    pacer.started('c', null);
    expect(pacer.size).toBe(1);
  });

  it('measures the starts against the window and the calls of the pacing it is asked with', () => {
    pacer.started('a', pacing);
    expect(pacer.mayStart('a', { plan: 0, calls: 1, windowMs: 2000 })).toBe(false);
    nowMs += 1000;
    expect(pacer.mayStart('a', { plan: 0, calls: 1, windowMs: 2000 })).toBe(false);
    nowMs += 1000;
    expect(pacer.mayStart('a', { plan: 0, calls: 1, windowMs: 2000 })).toBe(true);
  });

  it('starts afresh with a new plan (a resume, a reconfiguration), and holds nothing checked under an older plan', () => {
    pacer.started('a', pacing);
    pacer.started('a', pacing);
    const next = { ...pacing, plan: 1 };
    expect(pacer.mayStart('a', next)).toBe(true);
    pacer.started('a', next);
    pacer.started('a', next);
    expect(pacer.mayStart('a', next)).toBe(false);
    expect(pacer.mayStart('a', pacing)).toBe(true);
    pacer.started('a', pacing);
    nowMs += 950;
    expect(pacer.mayStart('a', next)).toBe(true);
  });

  it('forgets a batch whose latest first call is out of its window', () => {
    pacer.started('a', pacing);
    pacer.started('b', pacing);
    expect(pacer.size).toBe(2);
    nowMs += 1000;
    pacer.started('c', pacing);
    expect(pacer.size).toBe(1);
    expect(pacer.mayStart('a', pacing)).toBe(true);
  });
});
