import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore, type StreamName } from '@flotilla/event-store';
import { AUTH_OFF_CALLER } from '@flotilla/platform';
import { AmbiguousWorkflowId, WorkflowTeams } from './workflow-teams';

/** Which workflow an id names, per caller, over the workflow streams of a real store. */
describe('WorkflowTeams: workflow ids are per team', () => {
  let directory: string;
  let store: SqliteEventStore;
  let teams: WorkflowTeams;

  const registered = (workflowId: string, team: string | undefined) =>
    store.appendToStream(`workflow-${workflowId}` as StreamName, [
      { type: 'WorkflowVersionAdded', data: { workflowId }, ...(team === undefined ? {} : { metadata: { team } }) },
    ]);

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'flotilla-workflow-teams-'));
    store = new SqliteEventStore(join(directory, 'events.sqlite'));
    // `legacy` is alpha's from before ids were per team (stored bare); `bare` the default team's (no team recorded).
    await registered('legacy', 'alpha');
    await registered('bare', undefined);
    await registered('alpha:onboard', 'alpha');
    await registered('beta:onboard', 'beta');
    await registered('beta:only', 'beta');
    teams = new WorkflowTeams(store);
    await teams.onModuleInit();
  });

  afterAll(async () => {
    await teams.onModuleDestroy();
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  const alpha = { team: 'alpha', visibleTeam: 'alpha' };
  const operator = { team: 'ops', visibleTeam: undefined };

  it("reads a submitter's bare id as its team's workflow, else its team's bare one from before, and another team's as none", () => {
    expect(teams.find('onboard', alpha)).toBe('alpha:onboard');
    expect(teams.find('alpha:onboard', alpha)).toBe('alpha:onboard');
    expect(teams.find('legacy', alpha)).toBe('legacy');
    expect(teams.find('beta:onboard', alpha)).toBeUndefined();
    expect(teams.find('only', alpha)).toBe('alpha:only');
    expect(teams.find('bare', alpha)).toBeUndefined();
    expect(() => teams.resolve('beta:only', alpha)).toThrow('Workflow beta:only does not exist');
  });

  it('reads a bare id, to a caller who sees every team, as its own team’s, the bare one, or the one team’s that has it', () => {
    expect(teams.find('bare', operator)).toBe('bare');
    expect(teams.find('only', operator)).toBe('beta:only');
    expect(teams.find('legacy', AUTH_OFF_CALLER)).toBe('legacy');
    expect(teams.find('nothing', operator)).toBe('ops:nothing');
    expect(teams.find('nothing', AUTH_OFF_CALLER)).toBe('nothing');
    expect(() => teams.find('onboard', operator)).toThrow(AmbiguousWorkflowId);
    expect(() => teams.find('onboard', operator)).toThrow('(alpha:onboard, beta:onboard)');
    expect(teams.find('beta:onboard', operator)).toBe('beta:onboard');
  });

  it('counts and lists each team’s workflows under their stored ids', () => {
    expect(teams.countOf('alpha')).toBe(2);
    expect(teams.idsVisibleTo('beta')).toEqual(['beta:onboard', 'beta:only']);
  });
});
