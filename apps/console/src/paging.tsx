import { Button, Group, Text } from '@mantine/core';
import { useState } from 'react';

/**
 * The cursors of the pages seen so far and this one's (null: the first page). The API pages one
 * way only, so going back is popping a cursor, not asking for the page before.
 */
export function useCursorPages() {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    cursor: cursors[cursors.length - 1] ?? null,
    /** 1 for the first page. */
    page: cursors.length,
    back: () => setCursors((all) => (all.length > 1 ? all.slice(0, -1) : all)),
    first: () => setCursors([null]),
    next: (cursor: string) => setCursors((all) => [...all, cursor]),
  };
}

export type CursorPages = ReturnType<typeof useCursorPages>;

/**
 * The one pager of the console's lists: back (to the previous page, or to the first with
 * `back="first"`), on by the answer's `nextCursor` (not while a placeholder from the previous page
 * shows), and the page number.
 */
export function CursorPager({
  pages,
  answer,
  labels = { back: 'Previous page', next: 'Next page' },
  back = 'previous',
  size,
  showPage = true,
}: {
  pages: CursorPages;
  answer: { data?: { nextCursor: string | null } | undefined; isPlaceholderData: boolean };
  labels?: { back: string; next: string };
  back?: 'previous' | 'first';
  size?: 'xs';
  showPage?: boolean;
}) {
  const nextCursor = answer.data?.nextCursor ?? null;
  return (
    <Group mt={size === 'xs' ? 'xs' : undefined}>
      <Button variant="default" size={size} disabled={pages.page <= 1} onClick={back === 'first' ? pages.first : pages.back}>
        {labels.back}
      </Button>
      <Button
        variant="default"
        size={size}
        disabled={nextCursor === null || answer.isPlaceholderData}
        onClick={() => nextCursor !== null && pages.next(nextCursor)}
      >
        {labels.next}
      </Button>
      {showPage && (
        <Text size={size ?? 'sm'} c="dimmed">
          Page {pages.page}
        </Text>
      )}
    </Group>
  );
}
