import type { Problem, WorkflowInput } from '@flotilla/domain';
import { Alert, Group, List, NativeSelect, Paper, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { METADATA, choiceOptions, withChoice, withMetadataKey, type ColumnState } from './mapping-state';

export interface MappingStepProps {
  inputs: readonly WorkflowInput[];
  columns: readonly ColumnState[];
  onColumns: (columns: ColumnState[]) => void;
  /** The first data rows, to show what each column holds. */
  sample: readonly string[][];
  problems: readonly Problem[];
  /** When the columns came from a mapping saved for this set of headers. */
  restoredAt: string | null;
  restoredBy: string | null;
  savedMappingsError: string | null;
}

/** The name a column's select has: its header, or its position when the header is blank. */
export const columnLabel = (header: string, index: number): string => (header.trim() === '' ? `Column ${index + 1}` : header);

export function MappingStep({
  inputs,
  columns,
  onColumns,
  sample,
  problems,
  restoredAt,
  restoredBy,
  savedMappingsError,
}: MappingStepProps) {
  const options = choiceOptions(inputs);
  return (
    <Stack>
      <Title order={3}>Map columns</Title>
      <Text size="sm" c="dimmed">
        Each column goes to an input of the workflow, the row&apos;s profile, a metadata key, or nowhere. Headers that match an input&apos;s
        name (ignoring case, with spaces read as _) are mapped to it. The mapping is saved for this workflow and this set of headers when
        you go on.
      </Text>
      {restoredAt && (
        <Alert color="blue" title="Saved mapping">
          Restored the mapping saved {new Date(restoredAt).toLocaleString()}
          {restoredBy ? ` by ${restoredBy}` : ''}.
        </Alert>
      )}
      {savedMappingsError && (
        <Alert color="yellow" title="Could not load the saved mappings" style={{ whiteSpace: 'pre-line' }}>
          {savedMappingsError}
        </Alert>
      )}
      <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
        {columns.map((column, index) => {
          const label = columnLabel(column.header, index);
          const values = sample
            .map((row) => row[index] ?? '')
            .filter((value) => value !== '')
            .slice(0, 3);
          return (
            <Paper key={index} withBorder p="sm">
              <Stack gap="xs">
                <NativeSelect
                  label={label}
                  description={values.length > 0 ? `e.g. ${values.join(', ')}` : 'No sample values'}
                  value={column.choice}
                  data={options}
                  onChange={(event) => onColumns(withChoice(columns, index, event.currentTarget.value))}
                />
                {column.choice === METADATA && (
                  <TextInput
                    label={`${label} metadata key`}
                    value={column.metadataKey}
                    onChange={(event) => onColumns(withMetadataKey(columns, index, event.currentTarget.value))}
                  />
                )}
              </Stack>
            </Paper>
          );
        })}
      </SimpleGrid>
      {problems.length > 0 ? (
        <Alert color="red" title="The mapping is not valid yet" role="alert">
          <List size="sm">
            {problems.map((problem, index) => (
              <List.Item key={index}>{problem.message}</List.Item>
            ))}
          </List>
        </Alert>
      ) : (
        <Group>
          <Text size="sm" c="green">
            The mapping is valid.
          </Text>
        </Group>
      )}
    </Stack>
  );
}
