// The shapes of the workflow routes' answers the console reads (libs/ingest/src/responses.ts).
import type { ColumnMapping, WorkflowInput } from '@flotilla/domain';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface WorkflowVersionSummary {
  version: number;
  name: string;
  createdAt: string;
}

export interface WorkflowHold {
  since: string;
  reason: string;
  actor: string;
}

export interface WorkflowResponse {
  id: string;
  version: number;
  name: string;
  inputs: WorkflowInput[];
  target?: { url: string; timeoutMs: number; mode: 'sync' | 'async'; callbackTimeoutMs: number };
  retry?: { maxAttempts: number; backoffMs: number; maxThrottleSeconds: number };
  limits?: { maxInFlight?: number; maxPerSecond?: number };
  cost?: { perExecution: number; currency: string } | null;
  defaults?: { maxConcurrent?: number; batchIntervalSeconds?: number };
  createdAt?: string;
  versions: WorkflowVersionSummary[];
  held: WorkflowHold | null;
}

export interface SavedMapping {
  headers: string[];
  mapping: Record<string, ColumnMapping>;
  savedAt: string;
  savedBy: string;
}

export interface SavedMappings {
  items: SavedMapping[];
}
