import { Title } from '@mantine/core';

export function BatchDetailPage() {
  return <Title order={2}>Batch</Title>;
}
