import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('doubles from the base with each attempt, up to the cap', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, { baseMs: 100 }))).toEqual([100, 200, 400, 800, 1600]);
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, { baseMs: 100, capMs: 500 }))).toEqual([100, 200, 400, 500, 500]);
  });

  it('with jitter, draws below the ceiling', () => {
    expect(backoffDelay(3, { baseMs: 100 }, () => 0)).toBe(0);
    expect(backoffDelay(3, { baseMs: 100 }, () => 0.5)).toBe(200);
    expect(backoffDelay(3, { baseMs: 100 }, () => 0.999999)).toBe(399);
    expect(backoffDelay(30, { baseMs: 100, capMs: 60_000 }, () => 0.5)).toBe(30_000);
  });
});
