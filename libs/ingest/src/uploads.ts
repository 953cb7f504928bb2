import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BadRequestException, PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { CSV_PARSE_OPTIONS } from '@flotilla/domain';
import { validationProblems } from '@flotilla/platform';
import busboy from 'busboy';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import type { Request } from 'express';
import Papa from 'papaparse';

/** Largest CSV upload accepted. */
export const MAX_CSV_BYTES = 2 * 1024 * 1024 * 1024;

export interface Upload {
  readonly fields: Readonly<Record<string, string>>;
  /** The uploaded file, spooled to disk so its size never weighs on memory; null when there was none. */
  readonly filePath: string | null;
  /** Deletes the spooled file. */
  dispose(): Promise<void>;
}

/**
 * Receives a multipart/form-data request: text fields in memory, the `file` part streamed to a
 * temporary file. Spooling makes the part order irrelevant (the config may come after the file)
 * while the CSV is still never held in memory whole.
 */
export const receiveUpload = async (request: Request): Promise<Upload> => {
  if (!request.is('multipart/form-data')) throw new UnsupportedMediaTypeException('Expected multipart/form-data with a "file" part');
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-upload-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const fields: Record<string, string> = {};
    let filePath: string | null = null;
    let tooLarge = false;
    const writes: Promise<void>[] = [];
    const parser = busboy({ headers: request.headers, limits: { fileSize: MAX_CSV_BYTES, files: 1, fields: 20, fieldSize: 1024 * 1024 } });
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream) => {
      if (name !== 'file' || filePath !== null) {
        stream.resume();
        return;
      }
      filePath = join(dir, 'upload.csv');
      stream.on('limit', () => (tooLarge = true));
      writes.push(pipeline(stream, createWriteStream(filePath)));
    });
    await pipeline(request, parser);
    await Promise.all(writes);
    if (tooLarge) throw new PayloadTooLargeException(`The CSV file is larger than ${MAX_CSV_BYTES} bytes`);
    return { fields, filePath, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
};

/**
 * The records of a CSV file, parsed as a stream (papaparse), one array of cells per record.
 *
 * Backpressure is applied on the file, not on the parser: papaparse re-scans its pending input
 * each time its readable side is paused, which made a paused parser quadratic (6 s for 100,000
 * rows instead of 0.15 s). So the parser flows into a bounded queue, and the file is paused while
 * the queue is full.
 */
export async function* csvRecords(path: string, highWater = 5000): AsyncGenerator<string[]> {
  const parser = Papa.parse(Papa.NODE_STREAM_INPUT, CSV_PARSE_OPTIONS);
  const source = createReadStream(path, { highWaterMark: 256 * 1024 });
  const queue: string[][] = [];
  let ended = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  parser.on('data', (record: string[]) => {
    queue.push(record);
    if (queue.length >= highWater) source.pause();
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
        if (queue.length < highWater / 2 && source.isPaused()) source.resume();
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

/** Parses a text field of a multipart request holding a JSON object, naming it when it is not JSON or not an object (`null`, an array). */
export const jsonField = (fields: Readonly<Record<string, string>>, name: string): Record<string, unknown> | undefined => {
  const text = fields[name];
  if (text === undefined || text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestException({ message: `${name} must be a JSON string`, details: [{ code: 'invalid_json', field: name, message: `${name} must be a JSON string` }] });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException({ message: `${name} must be a JSON object`, details: [{ code: 'invalid_field', field: name, message: `${name} must be a JSON object` }] });
  }
  return value as Record<string, unknown>;
};

/** Validates a plain object against a DTO class, as the global ValidationPipe does for JSON bodies. */
export const validDto = async <T extends object>(type: new () => T, plain: unknown, field = ''): Promise<T> => {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) {
    const name = field === '' ? 'The request body' : field;
    throw new BadRequestException({ message: `${name} must be a JSON object`, details: [{ code: 'invalid_field', field: field || 'body', message: `${name} must be a JSON object` }] });
  }
  const instance = plainToInstance(type, plain);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    const details = validationProblems(errors, field);
    throw new BadRequestException({ message: details[0]?.message ?? 'The request is invalid', details });
  }
  return instance;
};
