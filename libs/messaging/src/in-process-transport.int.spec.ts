import { join } from 'node:path';
import type { DeadLetter } from './message';
import { CheckpointStore, HandledEvents, StateDb } from '@flotilla/state';
import { DEAD_LETTER_STREAM_CATEGORY, InProcessTransport } from './in-process-transport';
import { describeTransportContract } from './testing/transport-contract';

describeTransportContract('InProcessTransport', {
  severalConsumersOfAGroup: 'refuse',
  open: async ({ store, dir }) => {
    const dbs = new Map<string, StateDb>();
    const transports: InProcessTransport[] = [];
    const stateDb = (process: string): StateDb => {
      let db = dbs.get(process);
      if (db === undefined) dbs.set(process, (db = new StateDb(join(dir, `${process}.state.sqlite`))));
      return db;
    };
    return {
      transport: async (process) => {
        const db = stateDb(process);
        const transport = new InProcessTransport(store, new CheckpointStore(db), new HandledEvents(db), { retryBaseDelayMs: 1 });
        transports.push(transport);
        return transport;
      },
      deadLetters: async (group) => {
        const letters: DeadLetter[] = [];
        for await (const event of store.readStream(`${DEAD_LETTER_STREAM_CATEGORY}-${group}`)) letters.push(event.data as DeadLetter);
        return letters;
      },
      dispose: async () => {
        await Promise.all(transports.map((transport) => transport.close()));
        for (const db of dbs.values()) db.close();
      },
    };
  },
});
