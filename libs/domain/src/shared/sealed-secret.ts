/**
 * A secret as the store keeps it: AES-256-GCM ciphertext with its IV and authentication tag, in
 * base64. `v` names the scheme. The domain only carries it; sealing and opening need the key, which
 * lives outside the store (SECRETS_KEY or <DATA_DIR>/secrets.key; libs/platform's SecretBox).
 */
export interface SealedSecret {
  readonly v: 1;
  readonly iv: string;
  readonly tag: string;
  readonly ct: string;
}
