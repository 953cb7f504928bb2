import type { Problem } from '@flotilla/domain';
import {
  Alert,
  Badge,
  Group,
  List,
  Loader,
  NativeSelect,
  NumberInput,
  Paper,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { ApiError, formatError } from '../api';
import type { WorkflowResponse } from '../workflows/types';
import { formFieldOf, type ConfigForm } from './config';

/** What POST /v1/batches/plan answers (BatchPlanResponse). */
export interface BatchPlanResponse {
  total: number;
  validItems: number;
  invalidItems: number;
  errors: Problem[];
  waves: number;
  startAt: string;
  planEndsAt: string | null;
  estimatedDurationSeconds: number;
  estimatedCost: { amount: number; currency: string } | null;
}

export interface ConfigureStepProps {
  workflow: WorkflowResponse | undefined;
  form: ConfigForm;
  onForm: (form: ConfigForm) => void;
  localProblems: Record<string, string>;
  plan: BatchPlanResponse | undefined;
  planning: boolean;
  planError: unknown;
  startError: unknown;
}

/** Seconds as "1 h 2 min 5 s". */
export const formatDuration = (seconds: number): string => {
  if (seconds <= 0) return '0 s';
  const parts: string[] = [];
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = Math.round(seconds % 60);
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (minutes) parts.push(`${minutes} min`);
  if (rest) parts.push(`${rest} s`);
  return parts.join(' ');
};

const fieldErrors = (...errors: unknown[]): Partial<Record<keyof ConfigForm, string>> => {
  const found: Partial<Record<keyof ConfigForm, string>> = {};
  for (const error of errors) {
    if (!(error instanceof ApiError)) continue;
    for (const detail of error.details) {
      const field = formFieldOf(detail.field);
      if (field && found[field] === undefined) found[field] = detail.message;
    }
  }
  return found;
};

export function ConfigureStep({ workflow, form, onForm, localProblems, plan, planning, planError, startError }: ConfigureStepProps) {
  const apiErrors = fieldErrors(startError, planError);
  const errorOf = (field: keyof ConfigForm): string | undefined => localProblems[field] ?? apiErrors[field];
  const set = <K extends keyof ConfigForm>(field: K, value: ConfigForm[K]) => onForm({ ...form, [field]: value });
  const versions = [...(workflow?.versions ?? [])].sort((a, b) => b.version - a.version);
  return (
    <Stack>
      <Title order={3}>Configure</Title>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <TextInput
          label="Batch name"
          required
          withAsterisk={false}
          value={form.name}
          onChange={(e) => set('name', e.currentTarget.value)}
          error={errorOf('name')}
        />
        <NativeSelect
          label="Workflow version"
          value={form.workflowVersion}
          onChange={(e) => set('workflowVersion', e.currentTarget.value)}
          error={errorOf('workflowVersion')}
          data={
            versions.length > 0
              ? versions.map((version) => ({
                  value: String(version.version),
                  label: `${version.version}${version.version === workflow?.version ? ' (latest)' : ''}: ${version.name}`,
                }))
              : [{ value: form.workflowVersion, label: form.workflowVersion || 'Latest' }]
          }
        />
        <TextInput
          label="Default profile"
          description="For items with no profile of their own"
          value={form.defaultProfile}
          onChange={(e) => set('defaultProfile', e.currentTarget.value)}
          error={errorOf('defaultProfile')}
        />
        <TextInput
          label="Profile pool"
          description="Comma-separated; given in turn to items with no profile, when there is no default profile"
          value={form.profilePool}
          onChange={(e) => set('profilePool', e.currentTarget.value)}
          error={errorOf('profilePool')}
        />
        <TextInput
          type="datetime-local"
          label="Start time"
          description="Your local time; empty: now. In the future, the batch waits as pending."
          value={form.startAt}
          onChange={(e) => set('startAt', e.currentTarget.value)}
          error={errorOf('startAt')}
        />
        <NumberInput
          label="Max concurrent"
          description="Executions triggered per wave (1 to 10,000)"
          required
          withAsterisk={false}
          min={1}
          allowDecimal={false}
          value={form.maxConcurrent}
          onChange={(value) => set('maxConcurrent', value)}
          error={errorOf('maxConcurrent')}
        />
        <NumberInput
          label="Batch interval (seconds)"
          description="Between waves"
          required
          withAsterisk={false}
          min={0}
          value={form.batchIntervalSeconds}
          onChange={(value) => set('batchIntervalSeconds', value)}
          error={errorOf('batchIntervalSeconds')}
        />
        <NumberInput
          label="Priority"
          description="1 (first) to 100; default 50"
          min={1}
          max={100}
          allowDecimal={false}
          value={form.priority}
          onChange={(value) => set('priority', value)}
          error={errorOf('priority')}
        />
        <NumberInput
          label="Max failure percent"
          description="Pause the batch once more than this share of outcomes failed (after 10); empty: no limit"
          min={0}
          max={100}
          value={form.maxFailurePercent}
          onChange={(value) => set('maxFailurePercent', value)}
          error={errorOf('maxFailurePercent')}
        />
        <NumberInput
          label="Max failures"
          description="Pause the batch once more than this many executions failed; empty: no limit"
          min={0}
          allowDecimal={false}
          value={form.maxFailures}
          onChange={(value) => set('maxFailures', value)}
          error={errorOf('maxFailures')}
        />
      </SimpleGrid>
      <Paper withBorder p="md" aria-label="Plan" component="section">
        <Stack gap="xs">
          <Group gap="xs">
            <Title order={4}>Plan</Title>
            {planning && <Loader size="xs" aria-label="Planning" />}
          </Group>
          {planError ? (
            <Alert color="red" title="The API refuses this configuration" style={{ whiteSpace: 'pre-line' }}>
              {formatError(planError)}
            </Alert>
          ) : null}
          {plan && (
            <>
              <Group gap="lg">
                <Text fw={700} size="lg">
                  {plan.waves} waves
                </Text>
                <Text>Planned end: {plan.planEndsAt ? new Date(plan.planEndsAt).toLocaleString() : 'no valid item'}</Text>
                <Text>Duration: {formatDuration(plan.estimatedDurationSeconds)}</Text>
                <Text>
                  Estimated cost:{' '}
                  {plan.estimatedCost ? `${plan.estimatedCost.amount} ${plan.estimatedCost.currency}` : 'the workflow declares no cost'}
                </Text>
              </Group>
              <Group gap="xs">
                <Text size="sm">Starts {new Date(plan.startAt).toLocaleString()};</Text>
                <Badge color="green" variant="light">
                  {plan.validItems} valid items
                </Badge>
                {plan.invalidItems > 0 && (
                  <Badge color="red" variant="light">
                    {plan.invalidItems} invalid items
                  </Badge>
                )}
              </Group>
              {plan.errors.length > 0 && (
                <Alert color="red" title="Invalid items: the batch will be refused until they are fixed">
                  <List size="sm">
                    {plan.errors.slice(0, 20).map((problem, index) => (
                      <List.Item key={index}>
                        {problem.row !== undefined ? `Row ${problem.row}: ` : ''}
                        {problem.message}
                      </List.Item>
                    ))}
                  </List>
                </Alert>
              )}
            </>
          )}
        </Stack>
      </Paper>
      {startError ? (
        <Alert color="red" title="The batch was not created" style={{ whiteSpace: 'pre-line' }}>
          {formatError(startError)}
        </Alert>
      ) : null}
    </Stack>
  );
}
