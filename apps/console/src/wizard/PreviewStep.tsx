import type { Problem } from '@flotilla/domain';
import { Alert, Badge, Group, List, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { formatError } from '../api';

export interface PreviewRow {
  index: number;
  inputs: Record<string, string>;
  profile: string | null;
  metadata: Record<string, string>;
  valid: boolean;
  errors: Problem[];
}

/** What POST /v1/batches/preview answers (CsvPreviewResponse). */
export interface CsvPreviewResponse {
  columns: string[];
  mapping: Record<string, unknown>;
  mappingErrors: Problem[];
  rows: PreviewRow[];
  totalRows: number;
  validRows: number;
  invalidRows: number;
}

export interface PreviewStepProps {
  preview: CsvPreviewResponse | undefined;
  loading: boolean;
  error: unknown;
}

const pairs = (record: Record<string, string>): string =>
  Object.entries(record)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ');

export function PreviewStep({ preview, loading, error }: PreviewStepProps) {
  return (
    <Stack>
      <Title order={3}>Preview</Title>
      {loading && (
        <Group gap="xs">
          <Loader size="sm" />
          <Text>Checking every row of the file…</Text>
        </Group>
      )}
      {error ? (
        <Alert color="red" title="The preview failed" style={{ whiteSpace: 'pre-line' }}>
          {formatError(error)}
        </Alert>
      ) : null}
      {preview && (
        <>
          <Group gap="md">
            <Badge color="green" size="lg" variant="light">
              {preview.validRows} valid
            </Badge>
            <Badge color={preview.invalidRows > 0 ? 'red' : 'gray'} size="lg" variant="light">
              {preview.invalidRows} invalid
            </Badge>
            <Text size="sm" c="dimmed">
              over the {preview.totalRows} rows of the file
            </Text>
          </Group>
          {preview.mappingErrors.length > 0 && (
            <Alert color="red" title="The mapping does not fit this workflow">
              <List size="sm">
                {preview.mappingErrors.map((problem, index) => (
                  <List.Item key={index}>{problem.message}</List.Item>
                ))}
              </List>
            </Alert>
          )}
          <Table striped withTableBorder aria-label="First rows">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Row</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Inputs</Table.Th>
                <Table.Th>Profile</Table.Th>
                <Table.Th>Metadata</Table.Th>
                <Table.Th>Errors</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {preview.rows.slice(0, 10).map((row) => (
                <Table.Tr key={row.index}>
                  <Table.Td>{row.index + 1}</Table.Td>
                  <Table.Td>
                    <Badge color={row.valid ? 'green' : 'red'} variant="filled">
                      {row.valid ? 'Valid' : 'Invalid'}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{pairs(row.inputs)}</Table.Td>
                  <Table.Td>{row.profile ?? ''}</Table.Td>
                  <Table.Td>{pairs(row.metadata)}</Table.Td>
                  <Table.Td>
                    {row.errors.length > 0 && (
                      <List size="xs">
                        {row.errors.map((problem, index) => (
                          <List.Item key={index}>{problem.message}</List.Item>
                        ))}
                      </List>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </>
      )}
    </Stack>
  );
}
