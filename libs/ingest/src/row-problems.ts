import { RuleViolation, type Problem } from '@flotilla/domain';

/** At most this many rows' errors are returned for an invalid upload; the counts cover every row. */
export const MAX_ROWS_WITH_ERRORS = 100;

/** Counts rows (JSON items or CSV rows) and keeps the problems of the first invalid ones. */
export class RowProblems {
  readonly details: Problem[] = [];
  invalidRows = 0;
  rows = 0;

  add(problems: readonly Problem[]): void {
    this.rows++;
    if (problems.length === 0) return;
    this.invalidRows++;
    if (this.invalidRows <= MAX_ROWS_WITH_ERRORS) this.details.push(...problems);
  }

  /**
   * Counts a row with its problems, and says whether to keep it: only while every row so far is
   * valid, since an upload with any invalid row creates nothing and keeping more would be wasted.
   */
  keep(problems: readonly Problem[]): boolean {
    this.add(problems);
    return problems.length === 0 && this.invalidRows === 0;
  }

  throwIfAny(what: string): void {
    if (this.invalidRows === 0) return;
    throw new RuleViolation(
      `${this.invalidRows} of ${this.rows} ${what} ${this.invalidRows === 1 ? 'is' : 'are'} invalid; nothing was created` +
        (this.invalidRows > MAX_ROWS_WITH_ERRORS ? ` (the errors of the first ${MAX_ROWS_WITH_ERRORS} are listed)` : ''),
      this.details,
    );
  }
}
