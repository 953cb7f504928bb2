import { decideWorkflow, evolveWorkflow, type AddWorkflowVersion, type Workflow, type WorkflowEvent, type WorkflowState } from '@flotilla/domain';
import { streamName, type EventStore, type GlobalPosition } from '@flotilla/event-store';

export const workflowStream = (workflowId: string): string => streamName('workflow', workflowId);

/** Workflows and their versions, one stream each; versions never change once added, so reads are cached. */
export class WorkflowRepository {
  private readonly cache = new Map<string, { state: WorkflowState; revision: number }>();

  constructor(private readonly store: EventStore) {}

  async load(workflowId: string): Promise<Workflow | null> {
    const cached = this.cache.get(workflowId) ?? { state: null, revision: -1 };
    for await (const event of this.store.readStream(workflowStream(workflowId), { fromRevision: cached.revision + 1 })) {
      cached.state = evolveWorkflow(cached.state, event as unknown as WorkflowEvent);
      cached.revision = event.revision;
    }
    if (cached.state !== null) this.cache.set(workflowId, cached);
    return cached.state;
  }

  async add(command: AddWorkflowVersion): Promise<{ workflow: Workflow; position: GlobalPosition }> {
    const current = await this.load(command.workflowId);
    const revision = this.cache.get(command.workflowId)?.revision ?? -1;
    const events = decideWorkflow(command, current);
    const result = await this.store.appendToStream(
      workflowStream(command.workflowId),
      events.map((event) => ({ type: event.type, data: event.data, metadata: { actor: command.actor } })),
      // A concurrent add of the same version number fails here instead of producing two version 2s.
      { expectedRevision: revision < 0 ? 'no_stream' : revision },
    );
    const workflow = await this.load(command.workflowId);
    if (workflow === null) throw new Error(`Workflow ${command.workflowId} vanished after it was written`);
    return { workflow, position: result.position };
  }
}
