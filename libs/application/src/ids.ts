import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * Ids that sort by creation time (48 bits of milliseconds, then 80 random bits, Crockford base32,
 * lowercase), with a prefix saying what they name: `bat_…`, `whk_…`. No dots: execution ids are
 * `<batchId>.<index>`.
 */
export const newId = (prefix: string, now = Date.now()): string => {
  let time = '';
  let ms = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[ms % 32] + time;
    ms = Math.floor(ms / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[(random[i] ?? 0) % 32];
  return `${prefix}_${time}${tail}`;
};
