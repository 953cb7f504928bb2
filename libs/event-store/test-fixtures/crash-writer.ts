import { exitOf, onLines, spawnTsChild, stderrOf } from './ts-child';

export interface Ack {
  readonly stream: string;
  readonly revision: number;
  readonly id: string;
}

/** Lets crash-child.ts append to the store (a SQLite file or a postgres:// URL) until it has acknowledged `acks` more events, then SIGKILLs it. */
export const appendUntilKilled = async (target: string, acks: number): Promise<Ack[]> => {
  const child = spawnTsChild('crash-child.ts', [target]);
  const stderr = stderrOf(child);
  const acknowledged: Ack[] = [];
  onLines(child.stdout, (line) => {
    const [stream = '', revision = '', id = ''] = line.split(' ');
    acknowledged.push({ stream, revision: Number(revision), id });
    if (acknowledged.length >= acks) child.kill('SIGKILL');
  });
  const exit = await exitOf(child);
  if (exit.signal !== 'SIGKILL') throw new Error(`The writer ended by itself (exit code ${exit.code}): ${stderr()}`);
  return acknowledged;
};
