import { workflowEvents, type WorkflowVersionAdded } from '@flotilla/domain';
import type { Recorded } from '@flotilla/event-store';
import type { StateDb } from '@flotilla/state';
import type { Projection } from './projection';

/**
 * The declared cost of each workflow version, so a batch's view can show what it will cost and has
 * cost so far without loading its workflow. Versions never change once added.
 */
export class WorkflowCostsProjection implements Projection<WorkflowVersionAdded> {
  readonly name = 'workflow-costs';
  readonly version = 1;
  readonly tables = ['workflow_costs'] as const;
  readonly events = workflowEvents.subset('WorkflowVersionAdded');

  reset(db: StateDb): void {
    db.run('DELETE FROM workflow_costs');
  }

  apply(event: Recorded<WorkflowVersionAdded>, db: StateDb): void {
    const { workflowId, version, cost } = event.data;
    if (cost === undefined) return;
    db.run(
      'INSERT OR IGNORE INTO workflow_costs (workflow_id, version, per_execution, currency) VALUES (?, ?, ?, ?)',
      workflowId,
      version,
      cost.perExecution,
      cost.currency,
    );
  }
}
