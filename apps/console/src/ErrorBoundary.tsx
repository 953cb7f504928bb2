import { Alert, Button, Code, Stack } from '@mantine/core';
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

/** A screen that throws while rendering shows its error here instead of blanking the page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.warn('The console caught an error while rendering', error, info.componentStack);
  }

  override render(): ReactNode {
    if (!this.state.error) return this.props.children;
    return (
      <Stack p="md" maw={720}>
        <Alert color="red" title="Something went wrong">
          <Code block>{this.state.error.message}</Code>
        </Alert>
        <Button variant="light" onClick={() => this.setState({ error: null })} w="fit-content">
          Try again
        </Button>
      </Stack>
    );
  }
}
