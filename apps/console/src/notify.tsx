import { Notification, Stack } from '@mantine/core';
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';

export interface Notice {
  title?: string;
  message: string;
  color?: 'red' | 'green' | 'blue' | 'yellow';
}

type Notify = (notice: Notice) => void;

const NotifyContext = createContext<Notify>(() => undefined);

/** The console's toasts: Mantine Notifications in a corner, each closing after 6 s (errors stay until closed). */
export function NotificationsHost({ children }: { children: ReactNode }) {
  const [notices, setNotices] = useState<(Notice & { id: number })[]>([]);
  const next = useRef(0);
  const close = useCallback((id: number) => setNotices((all) => all.filter((notice) => notice.id !== id)), []);
  const notify = useCallback<Notify>(
    (notice) => {
      const id = ++next.current;
      setNotices((all) => [...all.slice(-4), { ...notice, id }]);
      if (notice.color !== 'red') window.setTimeout(() => close(id), 6000);
    },
    [close],
  );
  const value = useMemo(() => notify, [notify]);
  return (
    <NotifyContext.Provider value={value}>
      {children}
      <Stack pos="fixed" bottom={16} right={16} w={380} gap="xs" style={{ zIndex: 1000 }} aria-live="polite">
        {notices.map((notice) => (
          <Notification
            key={notice.id}
            title={notice.title}
            color={notice.color ?? 'blue'}
            onClose={() => close(notice.id)}
            style={{ whiteSpace: 'pre-line' }}
          >
            {notice.message}
          </Notification>
        ))}
      </Stack>
    </NotifyContext.Provider>
  );
}

export const useNotify = (): Notify => useContext(NotifyContext);
