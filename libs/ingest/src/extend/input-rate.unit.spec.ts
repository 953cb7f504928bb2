import { InputRateLimit } from './input-rate';

describe('InputRateLimit', () => {
  it('takes inputs while the bucket holds them, then names the seconds until the request fits', () => {
    const limit = new InputRateLimit(60); // one input a second
    expect(limit.take(40, 0)).toBeNull();
    expect(limit.take(20, 0)).toBeNull();
    expect(limit.take(5, 0)).toBe(5);
    expect(limit.take(5, 2_000)).toBe(3);
    expect(limit.take(5, 5_000)).toBeNull();
  });

  it('refills no deeper than a minute of inputs', () => {
    const limit = new InputRateLimit(60);
    expect(limit.take(60, 0)).toBeNull();
    expect(limit.take(60, 3_600_000)).toBeNull();
    expect(limit.take(1, 3_600_000)).toBe(1);
  });

  it('lets a request larger than the bucket through when it is full, and empties it', () => {
    const limit = new InputRateLimit(10);
    expect(limit.take(1000, 0)).toBeNull();
    expect(limit.take(1, 0)).toBe(6);
    expect(limit.take(1000, 30_000)).toBe(30);
    expect(limit.take(1000, 60_000)).toBeNull();
  });
});
