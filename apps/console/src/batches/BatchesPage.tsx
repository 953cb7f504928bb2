import { Title } from '@mantine/core';

export function BatchesPage() {
  return <Title order={2}>Batches</Title>;
}
