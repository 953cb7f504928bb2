import 'reflect-metadata';
import { ExecutorModule } from '@flotilla/execution';
import { runService } from '@flotilla/platform';

/** An executor process; several may run at once (they share the work through their consumer groups). */
void runService('executor', () => [ExecutorModule]);
