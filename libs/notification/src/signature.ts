import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, in the `X-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the
 * HMAC taken with the webhook's secret over `<t>.<raw body>`. Signing the timestamp with the body
 * lets a receiver refuse replays of an old request; `v1` names the scheme so another can be added
 * beside it later (a receiver accepts the header when any `v1` matches).
 */

export const SIGNATURE_HEADER = 'X-Signature';

const hmac = (secret: string, timestamp: number, body: string | Buffer): Buffer =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();

/** The `X-Signature` header value for `body` sent at `timestamp` (unix seconds). */
export const signPayload = (secret: string, timestamp: number, body: string | Buffer): string =>
  `t=${timestamp},v1=${hmac(secret, timestamp, body).toString('hex')}`;

/**
 * Whether `header` is a valid signature of `body` (the raw bytes received, before any JSON
 * parsing) made with `secret` no more than `toleranceSeconds` away from `now`.
 */
export const verifySignature = (secret: string, header: string, body: string | Buffer, toleranceSeconds: number, now: Date): boolean => {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) return false;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (!/^\d{1,15}$/.test(value)) return false;
      timestamp = Number(value);
    } else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) {
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = hmac(secret, timestamp, body);
  // Constant-time: a receiver that compares byte by byte leaks how much of a forged signature was right.
  return signatures.some((signature) => timingSafeEqual(signature, expected));
};

/** Extend's webhook headers: the unix-seconds timestamp and the hex HMAC-SHA256 of `v0:<timestamp>:<raw body>`. */
export const EXTEND_TIMESTAMP_HEADER = 'x-extend-request-timestamp';
export const EXTEND_SIGNATURE_HEADER = 'x-extend-request-signature';

/** The `x-extend-request-signature` value for `body` sent at `timestamp` (unix seconds), as the extend-ai SDK checks it. */
export const signExtendPayload = (secret: string, timestamp: number, body: string | Buffer): string =>
  createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex');
