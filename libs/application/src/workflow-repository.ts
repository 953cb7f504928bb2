import {
  decideWorkflow,
  evolveWorkflow,
  workflowEvents,
  type AddWorkflowVersion,
  type HoldWorkflow,
  type ReleaseWorkflow,
  type SaveColumnMapping,
  type Workflow,
  type WorkflowCommand,
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
  private readonly handler: CommandHandler<WorkflowState, WorkflowCommand, WorkflowEvent>;

  constructor(private readonly store: EventStore) {
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

  /** `team` is recorded on the event's metadata: a new workflow belongs to it. */
  add(command: AddWorkflowVersion, team?: string): Promise<{ workflow: Workflow; position: GlobalPosition }> {
    return this.decide(command, team);
  }

  /** Holds or releases the workflow; its batches follow (WorkflowHolds, in the ingest service). */
  holdOrRelease(command: HoldWorkflow | ReleaseWorkflow): Promise<{ workflow: Workflow; position: GlobalPosition }> {
    return this.decide(command);
  }

  /** Saves the column mapping for a set of CSV headers; the same mapping again records nothing. */
  async saveMapping(command: SaveColumnMapping): Promise<{ workflow: Workflow; position: GlobalPosition | null }> {
    const { state, position } = await this.handler.handle(command.workflowId, command, { actor: command.actor });
    if (state === null) throw new Error(`Workflow ${command.workflowId} was not recorded`);
    return { workflow: state, position };
  }

  /** The workflow's own events, oldest first: its versions, holds and releases. */
  async history(workflowId: string): Promise<{ event: WorkflowEvent; position: GlobalPosition }[]> {
    const history: { event: WorkflowEvent; position: GlobalPosition }[] = [];
    for await (const stored of this.store.readStream(workflowStream(workflowId))) {
      const event = workflowEvents.read(stored);
      if (event !== null) history.push({ event, position: stored.position });
    }
    return history;
  }

  private async decide(command: WorkflowCommand, team?: string): Promise<{ workflow: Workflow; position: GlobalPosition }> {
    const metadata = team === undefined ? { actor: command.actor } : { actor: command.actor, team };
    const { state, position } = await this.handler.handle(command.workflowId, command, metadata);
    if (state === null || position === null) throw new Error(`Workflow ${command.workflowId} was not recorded`);
    return { workflow: state, position };
  }
}
