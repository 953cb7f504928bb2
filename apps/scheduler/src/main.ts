import 'reflect-metadata';
import { runService } from '@flotilla/platform';
import { SchedulerModule } from '@flotilla/scheduling';

/** The scheduler as its own process: batch start times, wave due times, async callback deadlines. */
void runService('scheduler', () => [SchedulerModule]);
