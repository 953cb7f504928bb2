import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SealedSecret } from '@flotilla/domain';

export const SECRETS_KEY_BYTES = 32;
const IV_BYTES = 12;
const ALGORITHM = 'aes-256-gcm';
/** The full 128-bit tag, required on open: a truncated tag would be easier to forge. */
const TAG_BYTES = 16;

export const isSealedSecret = (value: unknown): value is SealedSecret =>
  typeof value === 'object' &&
  value !== null &&
  (value as { v?: unknown }).v === 1 &&
  typeof (value as { iv?: unknown }).iv === 'string' &&
  typeof (value as { tag?: unknown }).tag === 'string' &&
  typeof (value as { ct?: unknown }).ct === 'string';

/** A secret that would not open: wrong key (another data directory's secrets.key) or a value altered at rest. */
export class SecretUnreadable extends Error {
  constructor(cause: unknown) {
    super(
      'A stored secret cannot be decrypted: SECRETS_KEY (or <DATA_DIR>/secrets.key) is not the key it was sealed with, or it was altered',
    );
    this.name = 'SecretUnreadable';
    this.cause = cause;
  }
}

/**
 * Seals and opens the secrets the platform keeps (webhook signing secrets) under one 32-byte key.
 * Every process that reads a secret must hold the same key (SECRETS_KEY, or a shared DATA_DIR).
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length !== SECRETS_KEY_BYTES) throw new Error(`A secrets key is ${SECRETS_KEY_BYTES} bytes, not ${key.length}`);
    this.key = Buffer.from(key);
  }

  seal(clear: string): SealedSecret {
    // A fresh random IV per secret: GCM must never see one IV twice under a key.
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv);
    const ct = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
    return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
  }

  /** The clear secret; a plain string (stored before secrets were sealed) is returned as it is. */
  open(stored: string | SealedSecret): string {
    if (typeof stored === 'string') return stored;
    try {
      const decipher = createDecipheriv(ALGORITHM, this.key, Buffer.from(stored.iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(Buffer.from(stored.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(stored.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new SecretUnreadable(error);
    }
  }
}
