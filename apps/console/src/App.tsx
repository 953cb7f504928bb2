import { Alert, AppShell, Button, Center, Group, Loader, NavLink, Paper, PasswordInput, Stack, Text, Title } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { Suspense, lazy, useCallback, useEffect, useState, type FormEvent } from 'react';
import { Link, Route, Routes, useLocation } from 'react-router';
import { SIGNED_OUT_EVENT, getApiKey, setApiKey } from './api';
import { BatchDetailPage, prefetchBatchOf } from './batches/BatchDetailPage';
import { BatchesPage } from './batches/BatchesPage';
import { NotificationsHost } from './notify';

// Loaded on their first visit: the batch pages, where most visits start, do not wait to parse the
// wizard (papaparse, the dropzone) or the workflow and webhook screens.
const NewBatchPage = lazy(() => import('./wizard/NewBatchPage').then((module) => ({ default: module.NewBatchPage })));
const WorkflowsPage = lazy(() => import('./workflows/WorkflowsPage').then((module) => ({ default: module.WorkflowsPage })));
const WebhooksPage = lazy(() => import('./webhooks/WebhooksPage').then((module) => ({ default: module.WebhooksPage })));

type Gate = 'probing' | 'open' | 'signed-in' | 'signed-out' | 'unreachable';

/** 200: the key (or no key, with AUTH=disabled) is accepted; 401: it is not. */
const probe = async (key: string | null): Promise<number> => {
  const response = await fetch('/v1/batches?limit=1', {
    headers: { Accept: 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
  });
  return response.status;
};

export function App() {
  const [gate, setGate] = useState<Gate>('probing');
  const queryClient = useQueryClient();

  const check = useCallback(async () => {
    setGate('probing');
    prefetchBatchOf(queryClient, window.location.pathname);
    try {
      const key = getApiKey();
      if (key) {
        const status = await probe(key);
        if (status !== 401) return setGate('signed-in');
        setApiKey(null);
      }
      const status = await probe(null);
      setGate(status === 401 ? 'signed-out' : 'open');
    } catch {
      setGate('unreachable');
    }
  }, [queryClient]);

  useEffect(() => {
    void check();
  }, [check]);

  useEffect(() => {
    const onSignedOut = () => {
      queryClient.clear();
      setGate('signed-out');
    };
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, [queryClient]);

  const signOut = () => {
    setApiKey(null);
    queryClient.clear();
    setGate('signed-out');
  };

  if (gate === 'probing') {
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  if (gate === 'unreachable') {
    return (
      <Center h="100vh">
        <Alert color="red" title="The API does not answer">
          <Button mt="sm" variant="light" onClick={() => void check()}>
            Try again
          </Button>
        </Alert>
      </Center>
    );
  }
  if (gate === 'signed-out') return <SignIn onSignedIn={() => setGate('signed-in')} />;
  return (
    <NotificationsHost>
      <Shell onSignOut={gate === 'signed-in' ? signOut : undefined} />
    </NotificationsHost>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return setError('Enter an API key');
    setBusy(true);
    setError(null);
    try {
      const status = await probe(trimmed);
      if (status === 401) setError('The API key was not accepted');
      else if (status >= 500) setError(`The API answered ${status}`);
      else {
        setApiKey(trimmed);
        onSignedIn();
      }
    } catch {
      setError('The API does not answer');
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center h="100vh" component="main">
      <Paper withBorder shadow="sm" p="xl" w={420}>
        <form onSubmit={(event) => void submit(event)}>
          <Stack>
            <Title order={1} size="h2">
              Flotilla console
            </Title>
            <Text c="dimmed" size="sm">
              Sign in with an API key. It is kept in this tab&apos;s session storage only.
            </Text>
            <PasswordInput label="API key" value={key} onChange={(event) => setKey(event.currentTarget.value)} error={error} autoFocus />
            <Button type="submit" loading={busy}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}

const NAV = [
  { label: 'Batches', to: '/', active: (path: string) => path === '/' || path.startsWith('/batches') },
  { label: 'Workflows', to: '/workflows', active: (path: string) => path.startsWith('/workflows') },
  { label: 'Webhooks', to: '/webhooks', active: (path: string) => path.startsWith('/webhooks') },
];

function Shell({ onSignOut }: { onSignOut: (() => void) | undefined }) {
  const { pathname } = useLocation();
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 200, breakpoint: 0 }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Text fw={700} size="lg">
            Flotilla
          </Text>
          {onSignOut && (
            <Button variant="default" size="xs" onClick={onSignOut}>
              Sign out
            </Button>
          )}
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main">
        {NAV.map((item) => (
          <NavLink key={item.to} component={Link} to={item.to} label={item.label} active={item.active(pathname)} />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<Loader size="sm" aria-label="Loading the page" />}>
          <Routes>
            <Route path="/" element={<BatchesPage />} />
            <Route path="/batches" element={<BatchesPage />} />
            <Route path="/batches/new" element={<NewBatchPage />} />
            <Route path="/batches/:id" element={<BatchDetailPage />} />
            <Route path="/workflows/*" element={<WorkflowsPage />} />
            <Route path="/webhooks/*" element={<WebhooksPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

function NotFound() {
  return (
    <Stack>
      <Title order={2}>Not found</Title>
      <Text>
        No screen here. <Link to="/">Back to the batches</Link>
      </Text>
    </Stack>
  );
}
