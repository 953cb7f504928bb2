/**
 * Domain errors are typed so the edges can map them without parsing messages:
 * NotFound -> 404, Conflict -> 409, RuleViolation -> 422.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'rule_violation';
  /** Stable machine-readable code, e.g. `illegal_transition`. */
  abstract readonly code: string;
}

export interface Problem {
  /** Stable code for the problem, e.g. `required_input_empty`. */
  readonly code: string;
  readonly message: string;
  /** The field the problem is about (an input name, `profile`, `metadata.<key>`, or a config field). */
  readonly field?: string;
  /** The column header the problem is about. */
  readonly column?: string;
  /** 1-based data row number (the header is not counted). */
  readonly row?: number;
}

/** One or more rules were broken; `problems` says which, naming fields and rows. */
export class RuleViolation extends DomainError {
  readonly kind = 'rule_violation';
  readonly code = 'rule_violation';
  constructor(
    message: string,
    readonly problems: readonly Problem[] = [],
  ) {
    super(message);
    this.name = 'RuleViolation';
  }
}
