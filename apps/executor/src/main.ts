// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { ExecutorModule } from '@flotilla/execution';
import { runService } from '@flotilla/platform';

/** An executor process; several may run at once (they share the work through their consumer groups). */
void runService('executor', () => [ExecutorModule]);
