import { Alert, Group, List, Loader, NativeSelect, Stack, Tabs, Text, Textarea, Title } from '@mantine/core';
import { Dropzone } from '@mantine/dropzone';
import { formatError } from '../api';
import type { WorkflowResponse } from '../workflows/types';
import { badRowMessage, type CsvCheck, type JsonItemsCheck } from './csv';

const JSON_HELP =
  'One object per execution: { "inputs": { ... }, "profile"?: "...", "metadata"?: { ... } }. ' +
  'The mapping and preview steps are not needed.';

export type Source = 'csv' | 'json';

const CSV_ACCEPT = {
  'text/csv': ['.csv'],
  'text/plain': ['.csv', '.txt'],
  'application/vnd.ms-excel': ['.csv'],
};

export interface UploadStepProps {
  workflows: WorkflowResponse[] | undefined;
  workflowsLoading: boolean;
  workflowsError: unknown;
  workflowId: string;
  onWorkflowId: (id: string) => void;
  source: Source;
  onSource: (source: Source) => void;
  file: File | null;
  csv: CsvCheck | null;
  parsing: boolean;
  parseError: string | null;
  onFile: (file: File) => void;
  onRejected: (message: string) => void;
  jsonText: string;
  onJsonText: (text: string) => void;
  jsonCheck: JsonItemsCheck;
}

export function UploadStep(props: UploadStepProps) {
  const { workflows, workflowId, csv, file } = props;
  return (
    <Stack>
      <Title order={3}>Upload CSV</Title>
      {props.workflowsError ? (
        <Alert color="red" title="Could not load the workflows" style={{ whiteSpace: 'pre-line' }}>
          {formatError(props.workflowsError)}
        </Alert>
      ) : null}
      <NativeSelect
        label="Workflow"
        description="The workflow each row (or item) runs"
        value={workflowId}
        onChange={(event) => props.onWorkflowId(event.currentTarget.value)}
        disabled={props.workflowsLoading}
        data={[
          { value: '', label: props.workflowsLoading ? 'Loading…' : 'Choose a workflow', disabled: true },
          ...(workflows ?? []).map((workflow) => ({
            value: workflow.id,
            label: workflow.name && workflow.name !== workflow.id ? `${workflow.name} (${workflow.id})` : workflow.id,
          })),
        ]}
      />
      {workflows && workflows.length === 0 && <Text c="dimmed">No workflow yet: create one with POST /v1/workflows.</Text>}
      <Tabs value={props.source} onChange={(value) => props.onSource(value === 'json' ? 'json' : 'csv')}>
        <Tabs.List>
          <Tabs.Tab value="csv">CSV</Tabs.Tab>
          <Tabs.Tab value="json">JSON array</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="csv" pt="md">
          <Stack>
            <Dropzone
              onDrop={(files) => {
                const first = files[0];
                if (first) props.onFile(first);
              }}
              onReject={(rejections) =>
                props.onRejected(
                  rejections
                    .map((rejection) => `${rejection.file.name}: ${rejection.errors.map((error) => error.message).join(', ')}`)
                    .join('\n'),
                )
              }
              multiple={false}
              accept={CSV_ACCEPT}
              loading={props.parsing}
              inputProps={{ 'aria-label': 'CSV file', name: 'file' }}
            >
              <Stack align="center" gap={4} mih={100} justify="center" style={{ pointerEvents: 'none' }}>
                <Text size="lg">Drag a CSV file here, or click to browse</Text>
                <Text size="sm" c="dimmed">
                  A header row first; the file is read here to check it, then streamed to the server as it is.
                </Text>
              </Stack>
            </Dropzone>
            {props.parsing && (
              <Group gap="xs">
                <Loader size="xs" />
                <Text size="sm">Reading {file?.name}…</Text>
              </Group>
            )}
            {props.parseError && (
              <Alert color="red" title="The file could not be read" style={{ whiteSpace: 'pre-line' }}>
                {props.parseError}
              </Alert>
            )}
            {file && csv && !props.parsing && (
              <Stack gap="xs">
                <Text>
                  <b>{file.name}</b>: {csv.headers.length} columns, {csv.totalRows} rows
                </Text>
                {csv.fatal.length > 0 && (
                  <Alert color="red" title="This file cannot be used">
                    <List size="sm">
                      {csv.fatal.map((message) => (
                        <List.Item key={message}>{message}</List.Item>
                      ))}
                    </List>
                  </Alert>
                )}
                {csv.badRowCount > 0 && (
                  <Alert color="yellow" title={`${csv.badRowCount} rows do not have the header's ${csv.headers.length} columns`}>
                    <Text size="sm">These rows will be invalid; fix the file and upload it again, or go on without them.</Text>
                    <List size="sm">
                      {csv.badRows.map(({ row, columns }) => (
                        <List.Item key={row}>{badRowMessage(row, columns, csv.headers.length)}</List.Item>
                      ))}
                      {csv.badRowCount > csv.badRows.length && <List.Item>… and {csv.badRowCount - csv.badRows.length} more</List.Item>}
                    </List>
                  </Alert>
                )}
              </Stack>
            )}
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="json" pt="md">
          <Stack>
            <Textarea
              label="Items (JSON array)"
              description={JSON_HELP}
              autosize
              minRows={6}
              maxRows={20}
              value={props.jsonText}
              onChange={(event) => props.onJsonText(event.currentTarget.value)}
              styles={{ input: { fontFamily: 'monospace' } }}
              error={props.jsonText.trim() !== '' && props.jsonCheck.problems.length > 0 ? props.jsonCheck.problems.join('\n') : undefined}
            />
            {props.jsonCheck.items && <Text size="sm">{props.jsonCheck.items.length} items</Text>}
          </Stack>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
