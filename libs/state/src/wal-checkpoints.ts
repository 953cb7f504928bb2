import { Worker } from 'node:worker_threads';

/**
 * SQLite moves a WAL's pages into the database file (a checkpoint) inside the COMMIT that grew the
 * WAL past 1,000 pages: it copies them and fsyncs the file while the event loop waits. The files of
 * this process (the event store, the state database) are also checkpointed by one worker thread of
 * the process, with a connection of its own to each, every 50 ms, on the machine's other core, so
 * that most pages are copied by the time a COMMIT checkpoints. A checkpoint is crash-safe wherever it
 * runs, and PASSIVE never waits for a reader or a writer.
 *
 * The worker is plain JavaScript evaluated from this string: it needs nothing but node:sqlite, and
 * so no file of its own to find in the built output and in the tests alike.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const files = new Map();
const EVERY_MS = 50;
const checkpointAll = () => {
  for (const db of files.values()) {
    try {
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      // Busy with another process's checkpoint, say: the next turn tries again. Failures of the file
      // itself are the business of the connections that write it, which report them.
    }
  }
};
let timer = null;
parentPort.on('message', (message) => {
  if (message.add !== undefined) {
    // FULL: the checkpoint fsyncs the WAL before copying from it and the database after.
    const db = new DatabaseSync(message.path, { timeout: 0 });
    db.exec('PRAGMA synchronous = FULL');
    files.set(message.add, db);
    timer ??= setInterval(checkpointAll, EVERY_MS);
  } else if (message.remove !== undefined) {
    const db = files.get(message.remove);
    files.delete(message.remove);
    try {
      db?.close();
    } catch {}
    if (files.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }
});
`;

let worker: Worker | null = null;
let nextId = 0;

const checkpointer = (): Worker => {
  if (worker === null) {
    worker = new Worker(WORKER_SOURCE, { eval: true });
    // A process ends when its own work does: the checkpoints are no reason to stay.
    worker.unref();
    worker.on('error', () => (worker = null));
    worker.on('exit', () => (worker = null));
  }
  return worker;
};

/**
 * Checkpoints `path` (a SQLite file in WAL mode) on the worker thread until the returned function is
 * called. The writer's own checkpoint (at 1,000 pages, SQLite's default) stays: only it can restart
 * the WAL from its beginning while appends go on, and it then finds the pages copied already, so what
 * it does in COMMIT is the few written since the worker's last pass.
 */
export const checkpointOffThread = (path: string): (() => void) => {
  const id = (nextId += 1);
  const target = checkpointer();
  target.postMessage({ add: id, path });
  return () => {
    if (worker === target) target.postMessage({ remove: id });
  };
};
