import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { BatchSnapshot, ExecutionTableSnapshot } from '@flotilla/domain';

/**
 * Binary encoding of a batch state for snapshots: a JSON header with everything small, then the
 * execution table's typed arrays. The plan arrays are delta-encoded (consecutive ranks and indexes
 * mostly differ by one) so the whole thing deflates to a few kilobytes for a typical million-item
 * batch.
 */
export const encodeBatchSnapshot = (snapshot: BatchSnapshot): Buffer => {
  const { executions, ...rest } = snapshot;
  const header = Buffer.from(
    JSON.stringify({
      ...rest,
      declaredThroughMs: Number.isFinite(rest.declaredThroughMs) ? rest.declaredThroughMs : null,
      table: {
        total: executions.total,
        planSize: executions.planSize,
        anchorMs: executions.anchorMs,
        rescheduled: executions.rescheduled,
        failedAttempts: executions.failedAttempts,
        awaitingCallback: executions.awaitingCallback,
        head: executions.head,
        tail: executions.tail,
        ...(executions.waves === undefined ? {} : { waves: executions.waves }),
        hasOrder: executions.order !== null,
        hasRanks: executions.ranks !== null,
      },
    }),
  );
  const parts: Buffer[] = [
    u32(header.length),
    header,
    Buffer.from(executions.states.buffer, executions.states.byteOffset, executions.states.byteLength),
  ];
  if (executions.order) parts.push(int32Bytes(deltaEncode(executions.order)));
  if (executions.ranks) parts.push(int32Bytes(deltaEncode(executions.ranks)));
  return deflateRawSync(Buffer.concat(parts));
};

export const decodeBatchSnapshot = (encoded: Buffer): BatchSnapshot => {
  const raw = inflateRawSync(encoded);
  const headerLength = raw.readUInt32LE(0);
  const header = JSON.parse(raw.subarray(4, 4 + headerLength).toString()) as Omit<BatchSnapshot, 'executions' | 'declaredThroughMs'> & {
    declaredThroughMs: number | null;
    // Snapshots written before a field existed lack it: failedAttempts, awaitingCallback, waves.
    table: Omit<ExecutionTableSnapshot, 'states' | 'order' | 'ranks' | 'failedAttempts' | 'awaitingCallback'> & {
      failedAttempts?: ExecutionTableSnapshot['failedAttempts'];
      awaitingCallback?: ExecutionTableSnapshot['awaitingCallback'];
      hasOrder: boolean;
      hasRanks: boolean;
    };
  };
  const { table, declaredThroughMs, ...rest } = header;
  let offset = 4 + headerLength;
  const states = new Uint8Array(raw.subarray(offset, offset + table.total));
  offset += table.total;
  const takeInt32 = (count: number): Int32Array => {
    const copy = new Int32Array(count);
    new Uint8Array(copy.buffer).set(raw.subarray(offset, offset + count * 4));
    offset += count * 4;
    return deltaDecode(copy);
  };
  const order = table.hasOrder ? takeInt32(table.planSize) : null;
  const ranks = table.hasRanks ? takeInt32(table.total) : null;
  return {
    ...rest,
    declaredThroughMs: declaredThroughMs ?? Number.NEGATIVE_INFINITY,
    executions: {
      total: table.total,
      states,
      order,
      ranks,
      planSize: table.planSize,
      anchorMs: table.anchorMs,
      rescheduled: table.rescheduled,
      failedAttempts: table.failedAttempts ?? [],
      awaitingCallback: table.awaitingCallback ?? [],
      head: table.head,
      tail: table.tail,
      ...(table.waves === undefined ? {} : { waves: table.waves }),
    },
  };
};

const u32 = (value: number): Buffer => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
};

const int32Bytes = (values: Int32Array): Buffer => Buffer.from(values.buffer, values.byteOffset, values.byteLength);

const deltaEncode = (values: Int32Array): Int32Array => {
  const deltas = new Int32Array(values.length);
  let previous = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] ?? 0;
    deltas[i] = value - previous;
    previous = value;
  }
  return deltas;
};

/** In place. */
const deltaDecode = (deltas: Int32Array): Int32Array => {
  let running = 0;
  for (let i = 0; i < deltas.length; i++) {
    running += deltas[i] ?? 0;
    deltas[i] = running;
  }
  return deltas;
};
