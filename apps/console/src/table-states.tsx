import { Group, Loader, Table, Text } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * The row a list's table shows in place of its items: a labelled loader while the first answer is
 * on its way, or, once it came with no items, `empty` (when given).
 */
export function TableStateRow({
  answer,
  columns,
  loading,
  empty,
}: {
  answer: { isPending: boolean; isSuccess: boolean; data?: { items: readonly unknown[] } | undefined };
  columns: number;
  /** The loader's accessible name, e.g. "Loading the batches". */
  loading: string;
  empty?: ReactNode;
}) {
  const message = answer.isPending ? (
    <Group gap="xs">
      <Loader size="sm" aria-label={loading} />
      <Text c="dimmed">Loading…</Text>
    </Group>
  ) : answer.isSuccess && answer.data?.items.length === 0 && empty !== undefined ? (
    <Text c="dimmed">{empty}</Text>
  ) : null;
  if (message === null) return null;
  return (
    <Table.Tr>
      <Table.Td colSpan={columns}>{message}</Table.Td>
    </Table.Tr>
  );
}
