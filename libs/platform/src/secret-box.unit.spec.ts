import { randomBytes } from 'node:crypto';
import { SecretBox, SecretUnreadable, isSealedSecret } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('opens what it sealed; the sealed form holds no trace of the clear secret and differs each time', () => {
    const clear = 'whsec-correct-horse-battery-staple';
    const first = box.seal(clear);
    const second = box.seal(clear);
    expect(isSealedSecret(first)).toBe(true);
    expect(JSON.stringify(first)).not.toContain(clear);
    expect(JSON.stringify(first)).not.toContain(Buffer.from(clear).toString('base64'));
    expect(first.iv).not.toBe(second.iv);
    expect(first.ct).not.toBe(second.ct);
    expect(box.open(first)).toBe(clear);
    expect(box.open(second)).toBe(clear);
  });

  it('returns a clear string as it is (stored before secrets were sealed)', () => {
    expect(box.open('legacy-clear-secret')).toBe('legacy-clear-secret');
  });

  it('detects a ciphertext, tag or IV altered at rest', () => {
    const sealed = box.seal('tamper-me-please');
    const flip = (base64: string): string => {
      const bytes = Buffer.from(base64, 'base64');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64');
    };
    expect(() => box.open({ ...sealed, ct: flip(sealed.ct) })).toThrow(SecretUnreadable);
    expect(() => box.open({ ...sealed, tag: flip(sealed.tag) })).toThrow(SecretUnreadable);
    expect(() => box.open({ ...sealed, iv: flip(sealed.iv) })).toThrow(SecretUnreadable);
    // A truncated tag is refused rather than checked on fewer bits.
    expect(() => box.open({ ...sealed, tag: Buffer.from(sealed.tag, 'base64').subarray(0, 4).toString('base64') })).toThrow(
      SecretUnreadable,
    );
  });

  it('cannot open under another key', () => {
    const sealed = box.seal('only-for-this-key');
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(SecretUnreadable);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('A secrets key is 32 bytes, not 16');
  });

  it('tells a sealed secret from anything else', () => {
    expect(isSealedSecret('clear')).toBe(false);
    expect(isSealedSecret({ v: 2, iv: '', tag: '', ct: '' })).toBe(false);
    expect(isSealedSecret({ v: 1, iv: 'a', tag: 'b' })).toBe(false);
    expect(isSealedSecret(null)).toBe(false);
  });
});
