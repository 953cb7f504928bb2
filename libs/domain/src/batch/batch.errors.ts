import { DomainError } from '../shared/errors';
import type { BatchStatus } from './batch.state';
import type { ExecutionState } from './execution-table';

export class BatchNotFound extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'batch_not_found';
  constructor(readonly batchId: string) {
    super(`Batch ${batchId} does not exist`);
    this.name = 'BatchNotFound';
  }
}

export class BatchAlreadyExists extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'batch_already_exists';
  constructor(readonly batchId: string) {
    super(`Batch ${batchId} already exists`);
    this.name = 'BatchAlreadyExists';
  }
}

/** The batch's lifecycle does not allow this command in its current status. */
export class IllegalBatchTransition extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'illegal_transition';
  constructor(
    readonly batchId: string,
    readonly status: BatchStatus,
    readonly action: string,
  ) {
    super(`Cannot ${action} batch ${batchId}: it is ${status}`);
    this.name = 'IllegalBatchTransition';
  }
}

export class BatchAlreadyHeld extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'batch_already_held';
  constructor(readonly batchId: string) {
    super(`Batch ${batchId} is already held`);
    this.name = 'BatchAlreadyHeld';
  }
}

export class BatchNotHeld extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'batch_not_held';
  constructor(readonly batchId: string) {
    super(`Batch ${batchId} is not held: there is nothing to release`);
    this.name = 'BatchNotHeld';
  }
}

export class ExecutionNotFound extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'execution_not_found';
  constructor(readonly executionId: string) {
    super(`Execution ${executionId} does not exist`);
    this.name = 'ExecutionNotFound';
  }
}

/** The execution's lifecycle does not allow this command in its current state. */
export class IllegalExecutionTransition extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'illegal_execution_transition';
  constructor(
    readonly executionId: string,
    readonly state: ExecutionState,
    readonly action: string,
    /** What more to say about the state than its name, e.g. `triggered and not awaiting a callback`. */
    described: string = state,
  ) {
    super(`Cannot ${action} execution ${executionId}: it is ${described}`);
    this.name = 'IllegalExecutionTransition';
  }
}
