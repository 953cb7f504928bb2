import { Presets, SingleBar } from 'cli-progress';
import type { RebuildProgress } from './projections';

/** A progress bar on stderr for a rebuild, with its rate in events per second; a closing line says the totals. */
export const progressBar = (label: string, write: (line: string) => void): RebuildProgress => {
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | {duration_formatted}`,
      stream: process.stderr,
      // Also when stderr is a file or a pipe (a CI log): one line a second rather than nothing.
      noTTYOutput: true,
      notTTYSchedule: 1000,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let startedAt = 0;
  let applied = 0;
  const rate = (): string => {
    const seconds = (performance.now() - startedAt) / 1000;
    return seconds <= 0 ? '0' : String(Math.round(applied / seconds));
  };
  return {
    start: (total) => {
      startedAt = performance.now();
      bar.start(total, 0, { rate: '0' });
    },
    update: (value) => {
      applied = value;
      bar.update(value, { rate: rate() });
    },
    stop: () => {
      bar.stop();
      write(`${label}: ${applied} events in ${((performance.now() - startedAt) / 1000).toFixed(1)} s (${rate()} events/s)`);
    },
  };
};
