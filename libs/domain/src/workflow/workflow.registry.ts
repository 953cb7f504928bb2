import { EventRegistry } from '../shared/event-registry';
import type { WorkflowEvent } from './workflow';

export const workflowEvents = new EventRegistry<WorkflowEvent>({
  WorkflowVersionAdded: { schemaVersion: 1 },
});
