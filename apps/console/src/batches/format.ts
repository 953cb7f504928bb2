// One formatter each, made on first use: `toLocaleString` with options builds a new Intl formatter
// on every call, which was 30-70 ms of a batch page's first render (every time and count on it).
const formatter = <T>(make: () => T): (() => T) => {
  let made: T | undefined;
  return () => (made ??= make());
};
const MINUTE: Intl.DateTimeFormatOptions = { month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit' };
const fullTime = formatter(() => new Intl.DateTimeFormat(undefined, { ...MINUTE, year: 'numeric', second: '2-digit' }));
const shortTime = formatter(() => new Intl.DateTimeFormat(undefined, MINUTE));
const clockTime = formatter(() => new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
const count = formatter(() => new Intl.NumberFormat());

const formatWith = (format: Intl.DateTimeFormat, iso: string | null | undefined): string => {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return format.format(date);
};

/** A timestamp as the operator reads it: local date and time to the second; an em dash for none. */
export const formatTime = (iso: string | null | undefined): string => formatWith(fullTime(), iso);

/** The same, short, for a list's columns: month, day and time to the minute; the full time is its title. */
export const formatShortTime = (iso: string | null | undefined): string => formatWith(shortTime(), iso);

/** The time of day to the second, for a chart's axis. */
export const formatClockTime = (iso: string | null | undefined): string => formatWith(clockTime(), iso);

export const formatCount = (value: number): string => count().format(value);

/** An ISO time as a `datetime-local` input's value (local time, to the minute), and back. */
export const toLocalInput = (iso: string | null | undefined): string => {
  const date = iso ? new Date(iso) : new Date();
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

export const fromLocalInput = (value: string): string | null => {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
};
