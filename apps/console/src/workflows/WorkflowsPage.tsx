import { Alert, Anchor, Button, Stack, Table, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, Route, Routes } from 'react-router';
import { apiFetch, formatError } from '../api';
import {
  HOLD_LABEL,
  HeldBadge,
  HoldDialog,
  InputsList,
  LimitsText,
  TargetText,
  holdActionOf,
  useHoldDialog,
  workflowLink,
} from './WorkflowBits';
import { WorkflowDetail } from './WorkflowDetail';
import type { Page, WorkflowResponse } from './types';
import { CursorPager, useCursorPages } from '../paging';
import { TableStateRow } from '../table-states';

const PAGE_SIZE = 50;

const listPath = (cursor: string | null): string => {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) params.set('cursor', cursor);
  return `/v1/workflows?${params}`;
};

/** /workflows: the list; /workflows/:id: one workflow's versions and saved mappings. */
export function WorkflowsPage() {
  return (
    <Routes>
      <Route index element={<WorkflowList />} />
      <Route path=":id" element={<WorkflowDetail />} />
      <Route path="*" element={<WorkflowList />} />
    </Routes>
  );
}

function WorkflowList() {
  const pages = useCursorPages();
  const { cursor } = pages;
  const { open, dialog } = useHoldDialog();

  const list = useQuery({
    queryKey: ['workflows', { cursor }],
    queryFn: ({ signal }) => apiFetch<Page<WorkflowResponse>>(listPath(cursor), { signal }),
    placeholderData: keepPreviousData,
  });

  return (
    <Stack>
      <Title order={2}>Workflows</Title>
      {list.isError && (
        <Alert color="red" title="The workflows could not be loaded" style={{ whiteSpace: 'pre-line' }}>
          {formatError(list.error)}
        </Alert>
      )}
      <Table.ScrollContainer minWidth={1000}>
        <Table striped highlightOnHover verticalSpacing="xs" aria-label="Workflows">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>ID</Table.Th>
              <Table.Th>Name</Table.Th>
              <Table.Th>Version</Table.Th>
              <Table.Th>Inputs</Table.Th>
              <Table.Th>Limits</Table.Th>
              <Table.Th>Target</Table.Th>
              <Table.Th>Hold</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(list.data?.items ?? []).map((workflow) => (
              <WorkflowRow key={workflow.id} workflow={workflow} onHold={open} />
            ))}
            <TableStateRow answer={list} columns={8} loading="Loading the workflows" empty={<>No workflows yet.</>} />
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <CursorPager pages={pages} answer={list} />
      <HoldDialog {...dialog} />
    </Stack>
  );
}

function WorkflowRow({ workflow, onHold }: { workflow: WorkflowResponse; onHold: (workflow: WorkflowResponse) => void }) {
  const action = holdActionOf(workflow);
  return (
    <Table.Tr>
      <Table.Td>
        <Anchor component={Link} to={workflowLink(workflow.id)}>
          {workflow.id}
        </Anchor>
      </Table.Td>
      <Table.Td>{workflow.name}</Table.Td>
      <Table.Td>v{workflow.version}</Table.Td>
      <Table.Td>
        <InputsList inputs={workflow.inputs} />
      </Table.Td>
      <Table.Td>
        <LimitsText limits={workflow.limits} />
      </Table.Td>
      <Table.Td maw={320}>
        <TargetText target={workflow.target} />
      </Table.Td>
      <Table.Td>
        <HeldBadge held={workflow.held} />
      </Table.Td>
      <Table.Td>
        <Button
          size="compact-xs"
          variant={action === 'hold' ? 'outline' : 'default'}
          color={action === 'hold' ? 'red.9' : undefined}
          aria-label={`${HOLD_LABEL[action]} ${workflow.id}`}
          onClick={() => onHold(workflow)}
        >
          {HOLD_LABEL[action]}
        </Button>
      </Table.Td>
    </Table.Tr>
  );
}
