/**
 * Teams own workflows, batches and webhooks. The team of a thing is recorded in the metadata of the
 * event that created it (`team`, the creating key's team); things created before teams existed
 * carry none and belong to the default team, as does everything made while auth is off.
 */
export const DEFAULT_TEAM = 'default';

/** The team an event's metadata records, `default` when it records none. */
export const teamOfMetadata = (metadata: Readonly<Record<string, unknown>>): string =>
  typeof metadata['team'] === 'string' ? metadata['team'] : DEFAULT_TEAM;

/**
 * Workflow ids are per team, so that two teams may each register `onboard` without either learning
 * that the other has one. The default team's workflow keeps its id as given; another team's is
 * stored, and shown everywhere (responses, events, Kafka, metrics), as `<team>:<id>`. Neither a team
 * name nor a registered id may hold a `:`, so the qualified form reads back one way only.
 */
export const WORKFLOW_TEAM_SEPARATOR = ':';

export const qualifiedWorkflowId = (team: string, id: string): string =>
  team === DEFAULT_TEAM ? id : `${team}${WORKFLOW_TEAM_SEPARATOR}${id}`;

/** The id a team registered, without its team: `onboard` of `alpha:onboard` and of `onboard`. */
export const unqualifiedWorkflowId = (workflowId: string): string => workflowId.slice(workflowId.indexOf(WORKFLOW_TEAM_SEPARATOR) + 1);
