import { createHmac } from 'node:crypto';
import { signPayload, verifySignature } from './signature';

const secret = 'whsec-correct-horse';
const body = JSON.stringify({ id: 'evt_1', type: 'batch.started', batchId: 'bat_1', metadata: {}, data: {} });
const now = new Date('2026-05-01T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);

describe('webhook signatures', () => {
  it('signs as t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, which a receiver can recompute', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(signPayload(secret, t, body)).toBe(`t=${t},v1=${expected}`);
  });

  it('verifies its own signature, over a string or the raw bytes', () => {
    const header = signPayload(secret, t, body);
    expect(verifySignature(secret, header, body, 300, now)).toBe(true);
    expect(verifySignature(secret, header, Buffer.from(body), 300, now)).toBe(true);
  });

  it('refuses a tampered body, another secret, or a tampered timestamp', () => {
    const header = signPayload(secret, t, body);
    expect(verifySignature(secret, header, body.replace('bat_1', 'bat_2'), 300, now)).toBe(false);
    expect(verifySignature('another-secret', header, body, 300, now)).toBe(false);
    expect(verifySignature(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, 300, now)).toBe(false);
  });

  it('refuses a timestamp outside the tolerance, in the past or the future', () => {
    expect(verifySignature(secret, signPayload(secret, t - 301, body), body, 300, now)).toBe(false);
    expect(verifySignature(secret, signPayload(secret, t + 301, body), body, 300, now)).toBe(false);
    expect(verifySignature(secret, signPayload(secret, t - 300, body), body, 300, now)).toBe(true);
  });

  it('accepts the header when any v1 matches (room for rotating secrets), and refuses malformed headers', () => {
    const good = signPayload(secret, t, body);
    const other = signPayload('another-secret', t, body).split(',')[1]!;
    expect(verifySignature(secret, `${good},${other}`, body, 300, now)).toBe(true);
    expect(verifySignature(secret, `t=${t},${other}`, body, 300, now)).toBe(false);
    for (const header of ['', `t=${t}`, good.split(',')[1]!, `t=abc,${good.split(',')[1]!}`, `t=${t},v1=zz`, 'garbage']) {
      expect(verifySignature(secret, header, body, 300, now)).toBe(false);
    }
  });
});
