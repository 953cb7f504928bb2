/** The length of a value's JSON text in UTF-8 bytes: how the size limits on metadata and items are counted. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '');
