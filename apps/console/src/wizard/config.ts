// The Configure step's fields as the BatchConfigDto the API takes (the CSV upload's `config`, or the JSON body less `items`).
import type { WorkflowResponse } from '../workflows/types';

export interface ConfigForm {
  name: string;
  workflowVersion: string;
  defaultProfile: string;
  profilePool: string;
  /** A datetime-local value (local time, no zone); empty for now. */
  startAt: string;
  maxConcurrent: number | string;
  batchIntervalSeconds: number | string;
  priority: number | string;
  maxFailurePercent: number | string;
  maxFailures: number | string;
}

export interface BatchConfig {
  name: string;
  workflowId: string;
  workflowVersion?: number;
  startAt?: string;
  maxConcurrent: number;
  batchIntervalSeconds: number;
  priority?: number;
  defaultProfile?: string;
  profilePool?: string[];
  maxFailurePercent?: number;
  maxFailures?: number;
}

export const initialConfigForm = (workflow: WorkflowResponse | undefined, name: string): ConfigForm => ({
  name,
  workflowVersion: workflow ? String(workflow.version) : '',
  defaultProfile: '',
  profilePool: '',
  startAt: '',
  maxConcurrent: workflow?.defaults?.maxConcurrent ?? 10,
  batchIntervalSeconds: workflow?.defaults?.batchIntervalSeconds ?? 60,
  priority: 50,
  maxFailurePercent: '',
  maxFailures: '',
});

/** A default batch name: the file's name without its extension. */
export const nameOfFile = (fileName: string): string => fileName.replace(/\.[^.]+$/, '').slice(0, 200);

const numberOf = (value: number | string): number | undefined => {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (value.trim() === '') return undefined;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
};

/** The config, and the field problems found before asking the API (a missing name, a start time that is no date). */
export const buildConfig = (form: ConfigForm, workflowId: string): { config: BatchConfig; problems: Record<string, string> } => {
  const problems: Record<string, string> = {};
  const name = form.name.trim();
  if (name === '') problems['name'] = 'A batch needs a name';
  const maxConcurrent = numberOf(form.maxConcurrent);
  if (maxConcurrent === undefined) problems['maxConcurrent'] = 'Max concurrent is required';
  const batchIntervalSeconds = numberOf(form.batchIntervalSeconds);
  if (batchIntervalSeconds === undefined) problems['batchIntervalSeconds'] = 'The batch interval is required';
  const config: BatchConfig = { name, workflowId, maxConcurrent: maxConcurrent ?? 0, batchIntervalSeconds: batchIntervalSeconds ?? 0 };
  const version = numberOf(form.workflowVersion);
  if (version !== undefined) config.workflowVersion = version;
  if (form.startAt.trim() !== '') {
    const start = new Date(form.startAt);
    if (Number.isNaN(start.getTime())) problems['startAt'] = 'Not a date and time';
    else config.startAt = start.toISOString();
  }
  const priority = numberOf(form.priority);
  if (priority !== undefined) config.priority = priority;
  if (form.defaultProfile.trim() !== '') config.defaultProfile = form.defaultProfile.trim();
  const pool = form.profilePool
    .split(',')
    .map((profile) => profile.trim())
    .filter((profile) => profile !== '');
  if (pool.length > 0) config.profilePool = pool;
  const maxFailurePercent = numberOf(form.maxFailurePercent);
  if (maxFailurePercent !== undefined) config.maxFailurePercent = maxFailurePercent;
  const maxFailures = numberOf(form.maxFailures);
  if (maxFailures !== undefined) config.maxFailures = maxFailures;
  return { config, problems };
};

/** Which form field an API problem names (`config.maxConcurrent`, `maxConcurrent`): the error shows under that field. */
export const formFieldOf = (field: string | undefined): keyof ConfigForm | undefined => {
  if (field === undefined) return undefined;
  const bare = field.replace(/^config\./, '').split(/[.[]/)[0];
  const known: (keyof ConfigForm)[] = [
    'name',
    'workflowVersion',
    'defaultProfile',
    'profilePool',
    'startAt',
    'maxConcurrent',
    'batchIntervalSeconds',
    'priority',
    'maxFailurePercent',
    'maxFailures',
  ];
  return known.find((name) => name === bare);
};
