import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

const swcRegister = join(__dirname, '../../../scripts/swc-register.cjs');

/** Runs a TypeScript file of this folder in its own `node` process, transpiled by the workspace's SWC hook. */
export const spawnTsChild = (script: string, args: readonly string[]): ChildProcessWithoutNullStreams =>
  spawn(process.execPath, ['-r', swcRegister, join(__dirname, script), ...args], { stdio: 'pipe' });

/** Calls back with each complete line: a line cut short by a killed writer is never seen. */
export const onLines = (stream: Readable, onLine: (line: string) => void): void => {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      onLine(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
};

/** Everything the child wrote to stderr, to show when it did not behave. */
export const stderrOf = (child: ChildProcessWithoutNullStreams): (() => string) => {
  let text = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (text += chunk));
  return () => text;
};

export const exitOf = async (child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
};
