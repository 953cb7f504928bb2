import type { ColumnMapping } from '@flotilla/domain';
import { Alert, Anchor, Button, Group, Loader, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { apiFetch, formatError } from '../api';
import { formatTime } from '../batches/format';
import {
  HOLD_LABEL,
  HeldBadge,
  HoldDialog,
  InputsList,
  LimitsText,
  TargetText,
  holdActionOf,
  useHoldDialog,
  workflowKey,
} from './WorkflowBits';
import type { SavedMappings, WorkflowResponse } from './types';
import { TableStateRow } from '../table-states';

const workflowPath = (id: string): string => `/v1/workflows/${encodeURIComponent(id)}`;

/** /workflows/:id: the latest version's settings, the versions and the column mappings saved for the workflow. */
export function WorkflowDetail() {
  const id = useParams().id ?? '';
  const workflow = useQuery({
    queryKey: workflowKey(id),
    queryFn: ({ signal }) => apiFetch<WorkflowResponse>(workflowPath(id), { signal }),
    enabled: id !== '',
  });

  if (workflow.isPending) {
    return (
      <Group>
        <Loader size="sm" aria-label="Loading the workflow" />
        <Text>Loading the workflow…</Text>
      </Group>
    );
  }
  if (workflow.isError) {
    return (
      <Stack>
        <Title order={2}>Workflow {id}</Title>
        <Alert color="red" title="The workflow could not be loaded" style={{ whiteSpace: 'pre-line' }}>
          {formatError(workflow.error)}
        </Alert>
        <BackLink />
      </Stack>
    );
  }
  const view = workflow.data;
  return (
    <Stack gap="md">
      <WorkflowHeader workflow={view} />
      <WorkflowSettings workflow={view} />
      <VersionsTable workflow={view} />
      <MappingsTable workflowId={view.id} />
    </Stack>
  );
}

function BackLink() {
  return (
    <Anchor component={Link} to="/workflows">
      Back to the workflows
    </Anchor>
  );
}

function WorkflowHeader({ workflow }: { workflow: WorkflowResponse }) {
  const { open, dialog } = useHoldDialog();
  const action = holdActionOf(workflow);
  return (
    <Stack gap="xs">
      <BackLink />
      <Group justify="space-between" align="flex-start">
        <Stack gap={2}>
          <Title order={2}>{workflow.name}</Title>
          <Text size="sm" c="dimmed">
            {workflow.id}, version {workflow.version}
          </Text>
        </Stack>
        <Button
          variant={action === 'hold' ? 'outline' : 'default'}
          color={action === 'hold' ? 'red.9' : undefined}
          aria-label={`${HOLD_LABEL[action]} ${workflow.id}`}
          onClick={() => open(workflow)}
        >
          {HOLD_LABEL[action]}
        </Button>
      </Group>
      <HeldBadge held={workflow.held} />
      <HoldDialog {...dialog} />
    </Stack>
  );
}

function WorkflowSettings({ workflow }: { workflow: WorkflowResponse }) {
  const { target, retry, defaults, cost } = workflow;
  const rows: [string, ReactNode][] = [
    ['Inputs', <InputsList key="inputs" inputs={workflow.inputs} />],
    ['Target', <TargetText key="target" target={target} />],
    [
      'Timeout',
      target ? `${target.timeoutMs} ms${target.mode === 'async' ? `, callback within ${target.callbackTimeoutMs} ms` : ''}` : '—',
    ],
    [
      'Retry',
      retry ? `${retry.maxAttempts} attempts, ${retry.backoffMs} ms backoff, throttled for at most ${retry.maxThrottleSeconds} s` : '—',
    ],
    ['Limits', <LimitsText key="limits" limits={workflow.limits} />],
    [
      'Defaults',
      [
        defaults?.maxConcurrent !== undefined ? `maxConcurrent ${defaults.maxConcurrent}` : null,
        defaults?.batchIntervalSeconds !== undefined ? `batchIntervalSeconds ${defaults.batchIntervalSeconds}` : null,
      ]
        .filter((part) => part !== null)
        .join(', ') || 'None',
    ],
    ['Cost', cost ? `${cost.perExecution} ${cost.currency} per execution` : 'None declared'],
    ['Created', formatTime(workflow.createdAt)],
  ];
  return (
    <Paper withBorder p="md">
      <Table verticalSpacing={2} aria-label="Settings">
        <Table.Tbody>
          {rows.map(([label, value]) => (
            <Table.Tr key={label}>
              <Table.Th w={160}>{label}</Table.Th>
              <Table.Td>{value}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}

function VersionsTable({ workflow }: { workflow: WorkflowResponse }) {
  const versions = [...workflow.versions].sort((a, b) => b.version - a.version);
  return (
    <Paper withBorder p="md">
      <Title order={3} size="h4" mb="xs">
        Versions
      </Title>
      <Table verticalSpacing={4} aria-label="Versions">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Version</Table.Th>
            <Table.Th>Name</Table.Th>
            <Table.Th>Created</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {versions.map((version) => (
            <Table.Tr key={version.version}>
              <Table.Td>v{version.version}</Table.Td>
              <Table.Td>{version.name}</Table.Td>
              <Table.Td>{formatTime(version.createdAt)}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}

const describeMapping = (header: string, mapping: ColumnMapping): string => {
  switch (mapping.type) {
    case 'input':
      return `${header} → input ${mapping.field}`;
    case 'metadata':
      return `${header} → metadata ${mapping.key}`;
    case 'profile':
      return `${header} → profile`;
    case 'skip':
      return `${header} → skipped`;
  }
};

function MappingsTable({ workflowId }: { workflowId: string }) {
  const mappings = useQuery({
    queryKey: ['workflow-mappings', workflowId],
    queryFn: ({ signal }) => apiFetch<SavedMappings>(`${workflowPath(workflowId)}/mappings`, { signal }),
  });
  return (
    <Paper withBorder p="md">
      <Title order={3} size="h4" mb="xs">
        Saved column mappings
      </Title>
      {mappings.isError && (
        <Text c="red.9" role="alert" style={{ whiteSpace: 'pre-line' }}>
          {formatError(mappings.error)}
        </Text>
      )}
      <Table.ScrollContainer minWidth={700}>
        <Table verticalSpacing={4} aria-label="Saved column mappings">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Headers</Table.Th>
              <Table.Th>Mapping</Table.Th>
              <Table.Th>Saved</Table.Th>
              <Table.Th>Saved by</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(mappings.data?.items ?? []).map((saved) => (
              <Table.Tr key={saved.headers.join('\u0000')}>
                <Table.Td>{saved.headers.join(', ')}</Table.Td>
                <Table.Td>
                  <Stack gap={0}>
                    {Object.entries(saved.mapping).map(([header, mapping]) => (
                      <Text size="sm" key={header}>
                        {describeMapping(header, mapping)}
                      </Text>
                    ))}
                  </Stack>
                </Table.Td>
                <Table.Td>{formatTime(saved.savedAt)}</Table.Td>
                <Table.Td>{saved.savedBy}</Table.Td>
              </Table.Tr>
            ))}
            <TableStateRow
              answer={mappings}
              columns={4}
              loading="Loading the saved mappings"
              empty={<>No mapping saved yet: the new batch wizard saves one at its mapping step.</>}
            />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Paper>
  );
}
