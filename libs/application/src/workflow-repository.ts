import {
  decideWorkflow,
  evolveWorkflow,
  workflowEvents,
  type AddWorkflowVersion,
  type Workflow,
  type WorkflowEvent,
  type WorkflowState,
} from '@flotilla/domain';
import { streamName, type EventStore, type GlobalPosition } from '@flotilla/event-store';
import { CommandHandler } from './command-handler';

export const workflowStream = (workflowId: string): string => streamName('workflow', workflowId);

/**
 * Workflows and their versions, one stream each, decided through the command handler: a version
 * added twice at once gets one number, and a workflow registered twice at once exists once (the
 * loser's decision is made again and refused as already existing).
 */
export class WorkflowRepository {
  private readonly handler: CommandHandler<WorkflowState, AddWorkflowVersion, WorkflowEvent>;

  constructor(store: EventStore) {
    this.handler = new CommandHandler(
      store,
      {
        decide: decideWorkflow,
        evolve: evolveWorkflow,
        initialState: () => null,
        events: workflowEvents,
      },
      { streamOf: workflowStream },
    );
  }

  load(workflowId: string): Promise<Workflow | null> {
    return this.handler.load(workflowId);
  }

  async add(command: AddWorkflowVersion): Promise<{ workflow: Workflow; position: GlobalPosition }> {
    const { state, position } = await this.handler.handle(command.workflowId, command, { actor: command.actor });
    if (state === null || position === null) throw new Error(`Workflow ${command.workflowId} was not recorded`);
    return { workflow: state, position };
  }
}
