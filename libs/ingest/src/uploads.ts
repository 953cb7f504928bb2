import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BadRequestException, Logger, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { CSV_PARSE_OPTIONS, MAX_MAPPED_COLUMNS, RuleViolation } from '@flotilla/domain';
import { assertJsonDepth, validationProblems } from '@flotilla/platform';
import busboy from 'busboy';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { Request } from 'express';
import Papa from 'papaparse';

/** Most columns a CSV may have, in its header or any row: the domain's limit, which saved mappings share. */
export const MAX_CSV_COLUMNS = MAX_MAPPED_COLUMNS;
/** Longest CSV cell accepted, in characters: 1 MiB, as for a JSON string. */
export const MAX_CSV_CELL_CHARS = 1024 * 1024;

/** Largest CSV upload accepted. */
export const MAX_CSV_BYTES = 2 * 1024 * 1024 * 1024;
/** Most text fields in one multipart form (the forms have at most four). */
export const MAX_FORM_FIELDS = 20;
/** Largest text field of a multipart form (`config`, `mapping`). */
export const MAX_FORM_FIELD_BYTES = 1024 * 1024;

export interface Upload {
  readonly fields: Readonly<Record<string, string>>;
  /** The uploaded file, spooled to disk so its size never weighs on memory; null when there was none. */
  readonly filePath: string | null;
  /** Deletes the spooled file. */
  dispose(): Promise<void>;
}

const badUpload = (message: string): BadRequestException =>
  new BadRequestException({ message, details: [{ code: 'invalid_upload', field: 'body', message }] });

const tooLarge = (message: string, field = 'body'): PayloadTooLargeException =>
  new PayloadTooLargeException({ message, details: [{ code: 'too_large', field, message }] });

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Receives a multipart/form-data request: text fields in memory, the `file` part streamed to a
 * temporary file. Spooling makes the part order irrelevant (the config may come after the file)
 * while the CSV is still never held in memory whole.
 *
 * Every way an upload can go wrong (a malformed or truncated body, a limit, a client that goes
 * away, a temporary file that cannot be written) ends in this one promise rejecting with an HTTP
 * error, after the spooled file is closed and its folder removed: no stream error is left without
 * a listener, since one would be an unhandled rejection and take the whole process down.
 *
 * Compressed multipart bodies are refused with 415 rather than inflated: busboy reads raw bytes,
 * a CSV client has no reason to compress a form it streams, and a refusal needs no second size
 * limit to keep decompression bombs out.
 */
export const receiveUpload = async (request: Request): Promise<Upload> => {
  if (!request.is('multipart/form-data')) throw new UnsupportedMediaTypeException('Expected multipart/form-data with a "file" part');
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    throw new UnsupportedMediaTypeException(
      `A multipart upload cannot be compressed (Content-Encoding: ${encoding}); send the form uncompressed`,
    );
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      limits: { fileSize: MAX_CSV_BYTES, files: 1, fields: MAX_FORM_FIELDS, fieldSize: MAX_FORM_FIELD_BYTES },
    });
  } catch (error) {
    // No boundary, or a Content-Type busboy cannot read.
    throw badUpload(`The multipart Content-Type is invalid: ${errorMessage(error)}`);
  }
  let dir: string;
  try {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-upload-'));
  } catch (error) {
    throw spoolFailed(error);
  }
  const dispose = () => rm(dir, { recursive: true, force: true, maxRetries: 3 });
  return new Promise<Upload>((resolve, reject) => {
    const fields: Record<string, string> = {};
    let filePath: string | null = null;
    // Resolves once the spooled file's descriptor is closed, whatever happened to it.
    const spools: Promise<void>[] = [];
    // A failure of the temporary file, told apart from one of the part (which the parser reports
    // with its own 'error') by which side failed first.
    let spoolError: unknown = null;
    let settled = false;

    const settle = (failure: unknown): void => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      if (failure !== null) {
        // Ends the file part too; the rest of the request is read off and dropped so the answer can go out.
        parser.destroy();
        request.resume();
      }
      void Promise.allSettled(spools).then(async () => {
        // The file can still fail while it is flushed after the form ended.
        const error = failure ?? (spoolError === null ? null : spoolFailed(spoolError));
        if (error === null) return resolve({ fields, filePath, dispose });
        await dispose().catch(() => undefined);
        reject(error);
      });
    };

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) settle(tooLarge(`The form field "${name}" is larger than ${MAX_FORM_FIELD_BYTES} bytes`, name));
      fields[name] = value;
    });
    parser.on('fieldsLimit', () =>
      settle(tooLarge(`The form has more than ${MAX_FORM_FIELDS} fields; at most ${MAX_FORM_FIELDS} are accepted`)),
    );
    parser.on('filesLimit', () => settle(tooLarge('The form has more than one file; send the CSV as its one "file" part', 'file')));
    parser.on('file', (name, stream) => {
      if (settled || name !== 'file' || filePath !== null) {
        stream.resume();
        return;
      }
      filePath = join(dir, 'upload.csv');
      const out = createWriteStream(filePath);
      spools.push(new Promise<void>((done) => out.once('close', () => done())));
      out.once('error', (error) => {
        if (stream.errored === null) spoolError = error;
      });
      stream.on('limit', () => settle(tooLarge(`The CSV file is larger than ${MAX_CSV_BYTES} bytes`, 'file')));
      pipeline(stream, out).catch(() => {
        if (spoolError !== null && !settled) settle(spoolFailed(spoolError));
      });
    });
    parser.on('error', (error) => settle(malformed(error)));
    parser.on('finish', () => settle(null));
    request.on('error', () => settle(interrupted()));
    request.on('close', () => {
      if (!request.complete) settle(interrupted());
    });
    request.pipe(parser);
    // The client may have gone while the folder was made, before any listener was there to see it.
    if (request.destroyed) settle(interrupted());
  });
};

const malformed = (error: unknown): BadRequestException => {
  const message = errorMessage(error);
  const hint = /unexpected end/i.test(message)
    ? ': it ends before its closing boundary (is the boundary in Content-Type the one the body uses?)'
    : `: ${message}`;
  return badUpload(`The multipart body is malformed${hint}`);
};

/** The client went away mid-upload: nobody reads this answer, but the controller still sees a clean refusal. */
const interrupted = (): BadRequestException => badUpload('The upload was interrupted before the request ended');

const spoolFailed = (error: unknown): BadRequestException => {
  new Logger('uploads').warn(`An upload could not be spooled to a temporary file: ${errorMessage(error)}`);
  const code = (error as { code?: unknown } | null)?.code;
  return badUpload(`The upload could not be stored${typeof code === 'string' ? ` (${code})` : ''}`);
};

/** Characters of parsed records a CSV's queue holds before its file is paused: rows of 64 KiB would otherwise queue 300 MB. */
export const CSV_QUEUE_CHARS = 8 * 1024 * 1024;

/**
 * The records of a CSV file, parsed as a stream (papaparse), one array of cells per record.
 *
 * Backpressure is applied on the file, not on the parser: papaparse re-scans its pending input
 * each time its readable side is paused, which made a paused parser quadratic (6 s for 100,000
 * rows instead of 0.15 s). So the parser flows into a bounded queue, and the file is paused while
 * the queue is full: `highWater` records or CSV_QUEUE_CHARS characters, so wide rows are bounded too.
 */
export async function* csvRecords(path: string, highWater = 5000): AsyncGenerator<string[]> {
  const parser = Papa.parse(Papa.NODE_STREAM_INPUT, CSV_PARSE_OPTIONS);
  // Decoded as a stream: papaparse decodes each chunk it is given on its own, so a Buffer chunk ending
  // inside a multi-byte UTF-8 character turned both halves into U+FFFD.
  const source = createReadStream(path, { highWaterMark: 256 * 1024, encoding: 'utf8' });
  const queue: string[][] = [];
  /** Records read so far, the header included; and the header, once read. */
  let records = 0;
  let header: string[] | null = null;
  let queuedChars = 0;
  let ended = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  parser.on('data', (record: string[]) => {
    queue.push(record);
    queuedChars += charsOf(record);
    if (queue.length >= highWater || queuedChars >= CSV_QUEUE_CHARS) source.pause();
    notify();
  });
  parser.on('end', () => {
    ended = true;
    notify();
  });
  const fail = (error: unknown): void => {
    failure = error;
    notify();
  };
  parser.on('error', fail);
  source.on('error', fail);
  source.pipe(parser);
  try {
    for (;;) {
      if (failure !== null) throw failure;
      const record = queue.shift();
      if (record !== undefined) {
        queuedChars -= charsOf(record);
        if (queue.length < highWater / 2 && queuedChars < CSV_QUEUE_CHARS / 2 && source.isPaused()) source.resume();
        checkCsvRecord(record, records++, header);
        header ??= record;
        yield record;
      } else if (ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  } finally {
    source.destroy();
    parser.destroy();
  }
}

const charsOf = (record: readonly string[]): number => {
  let chars = 0;
  for (const cell of record) chars += cell.length;
  return chars;
};

/**
 * Refuses a CSV record (`index` 0 is the header) with more than MAX_CSV_COLUMNS cells (422) or a
 * cell longer than MAX_CSV_CELL_CHARS (413), naming the row and the column, as soon as it is parsed:
 * before it is mapped, checked or stored, and before the rest of the file is read.
 */
export const checkCsvRecord = (record: readonly string[], index: number, header: readonly string[] | null): void => {
  const row = index === 0 ? 'The header row' : `Row ${index}`;
  if (record.length > MAX_CSV_COLUMNS) {
    const message = `${row} has ${record.length} columns; a CSV may have at most ${MAX_CSV_COLUMNS}`;
    throw new RuleViolation(message, [{ code: 'csv_too_many_columns', field: 'file', message, ...(index === 0 ? {} : { row: index }) }]);
  }
  for (let column = 0; column < record.length; column++) {
    const cell = record[column] ?? '';
    if (cell.length <= MAX_CSV_CELL_CHARS) continue;
    const name = index === 0 ? `column ${column + 1}` : (header?.[column] ?? `column ${column + 1}`);
    const message = `${row}, column "${name}", is larger than 1 MiB (${cell.length} characters; at most ${MAX_CSV_CELL_CHARS})`;
    throw new PayloadTooLargeException({
      message,
      details: [{ code: 'too_large', field: 'file', column: name, ...(index === 0 ? {} : { row: index }), message }],
    });
  }
};

/** Parses a text field of a multipart request holding a JSON object, naming it when it is not JSON or not an object (`null`, an array). */
export const jsonField = (fields: Readonly<Record<string, string>>, name: string): Record<string, unknown> | undefined => {
  const text = fields[name];
  if (text === undefined || text.trim() === '') return undefined;
  assertJsonDepth(text, name);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestException({
      message: `${name} must be a JSON string`,
      details: [{ code: 'invalid_json', field: name, message: `${name} must be a JSON string` }],
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException({
      message: `${name} must be a JSON object`,
      details: [{ code: 'invalid_field', field: name, message: `${name} must be a JSON object` }],
    });
  }
  return value as Record<string, unknown>;
};

/** Validates a plain object against a DTO class, as the global ValidationPipe does for JSON bodies. */
export const validDto = async <T extends object>(type: new () => T, plain: unknown, field = ''): Promise<T> => {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    const name = field === '' ? 'The request body' : field;
    throw new BadRequestException({
      message: `${name} must be a JSON object`,
      details: [{ code: 'invalid_field', field: field || 'body', message: `${name} must be a JSON object` }],
    });
  }
  const instance = plainToInstance(type, plain);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    const details = validationProblems(errors, field);
    throw new BadRequestException({ message: details[0]?.message ?? 'The request is invalid', details });
  }
  return instance;
};
