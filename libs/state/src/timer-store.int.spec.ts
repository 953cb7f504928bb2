import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateDb } from './state-db';
import { TimerStore } from './timer-store';

describe('TimerStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flotilla-timers-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('removes a deadline stored before a restart, and the deadlines of a batch that got them after it ended', () => {
    const path = join(dir, 'state.sqlite');
    const first = new StateDb(path);
    new TimerStore(first).setDeadline({ batchId: 'bat_a', index: 3, attempt: 1, deadline: 1_000 });
    first.close();

    const state = new StateDb(path);
    try {
      const timers = new TimerStore(state);
      timers.removeDeadline('bat_b', 3); // a batch that never had a deadline: nothing to do
      expect(timers.nextDeadline()).toBe(1_000);
      timers.removeDeadline('bat_a', 3);
      expect(timers.nextDeadline()).toBeNull();

      timers.addActiveBatch('bat_a');
      timers.removeActiveBatch('bat_a');
      timers.setDeadline({ batchId: 'bat_a', index: 4, attempt: 2, deadline: 2_000 });
      expect(timers.dueDeadlines(5_000, 10)).toEqual([{ batchId: 'bat_a', index: 4, attempt: 2, deadline: 2_000 }]);
      timers.removeDeadline('bat_a', 4);
      expect(timers.dueDeadlines(5_000, 10)).toEqual([]);
    } finally {
      state.close();
    }
  });
});
