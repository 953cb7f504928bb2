// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { runService } from '@flotilla/platform';
import { SchedulerModule } from '@flotilla/scheduling';

/** The scheduler as its own process: batch start times, wave due times, async callback deadlines. */
void runService('scheduler', () => [SchedulerModule]);
