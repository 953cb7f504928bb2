// The API's answers about batches, as libs/projections/src/batch-views.ts describes them (the browser cannot import
// those decorated classes, so their fields are repeated here).

export type BatchStatus = 'pending' | 'running' | 'paused' | 'completed' | 'cancelled';
export const BATCH_STATUSES: BatchStatus[] = ['pending', 'running', 'paused', 'completed', 'cancelled'];

export interface BatchProgress {
  total: number;
  pending: number;
  triggered: number;
  cancelled: number;
  completed: number;
  failed: number;
  percent: number;
}

export interface Money {
  amount: number;
  currency: string;
}

export interface BatchView {
  id: string;
  name: string;
  status: BatchStatus;
  workflowId: string;
  workflowVersion: number;
  startAt: string;
  maxConcurrent: number;
  batchIntervalSeconds: number;
  priority: number;
  defaultProfile: string | null;
  profilePool: string[] | null;
  metadata: Record<string, unknown>;
  maxFailurePercent: number | null;
  maxFailures: number | null;
  catchUp: string;
  progress: BatchProgress;
  estimatedCompletionAt: string | null;
  createdAt: string;
  startedAt: string | null;
  pausedAt: string | null;
  heldBy: string | null;
  heldReason: string | null;
  heldAt: string | null;
  completedAt: string | null;
  cancelledAt: string | null;
  settledAt: string | null;
  throttledUntil?: string | null;
  parentBatchId: string | null;
  retries: string[];
  estimatedCost: Money | null;
  costSoFar: Money | null;
}

export type ExecutionStatus = 'pending' | 'triggered' | 'cancelled';
/** What the executions list filters on: the scheduled status, or the outcome. */
export const EXECUTION_FILTERS = ['pending', 'triggered', 'completed', 'failed', 'cancelled'] as const;

export interface ExecutionView {
  id: string;
  batchId: string;
  index: number;
  status: ExecutionStatus;
  executeAt: string | null;
  triggeredAt: string | null;
  queuedAt?: string | null;
  calledAt?: string | null;
  inputs: Record<string, unknown>;
  profile: string | null;
  metadata: Record<string, unknown>;
  attempts: number;
  lastError: string | null;
  outcome: { status: 'completed' | 'failed'; output?: unknown; error?: string; statusCode?: number; finishedAt: string } | null;
}

export interface HistoryEntry {
  position: string;
  type: string;
  occurredAt: string;
  actor?: string;
  reason?: string;
  data: unknown;
}

export interface WaveView {
  executeAt: string;
  planned: number;
  pending?: number;
  triggered: number;
  completed: number;
  failed: number;
  cancelled: number;
}

export interface WavesView {
  items: WaveView[];
  bucketSeconds: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The operator actions a status allows (the domain's rules: pause a running batch, resume a paused one, cancel an unfinished one). */
export const canPause = (status: BatchStatus): boolean => status === 'running';
export const canResume = (status: BatchStatus): boolean => status === 'paused';
export const canCancel = (status: BatchStatus): boolean => status === 'pending' || status === 'running' || status === 'paused';
export const canEditPacing = canCancel;
