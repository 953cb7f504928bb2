import type { WorkflowRepository } from '@flotilla/application';
import { WorkflowNotFound, findVersion, latestVersion, type WorkflowVersion } from '@flotilla/domain';

/** The version a batch pins: the one asked for, else the latest. An unknown id or version is a 404. */
export const resolveWorkflowVersion = async (
  workflows: WorkflowRepository,
  workflowId: string,
  version?: number,
): Promise<WorkflowVersion> => {
  const workflow = await workflows.load(workflowId);
  if (workflow === null) throw new WorkflowNotFound(workflowId);
  const resolved = version === undefined ? latestVersion(workflow) : findVersion(workflow, version);
  if (resolved === undefined) throw new WorkflowNotFound(workflowId, version);
  return resolved;
};
