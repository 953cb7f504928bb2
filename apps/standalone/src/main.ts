// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { ExecutorModule } from '@flotilla/execution';
import { IngestModule } from '@flotilla/ingest';
import { NotifierModule, WebhooksModule } from '@flotilla/notification';
import { AuthModule, runService } from '@flotilla/platform';
import { SchedulerModule } from '@flotilla/scheduling';

/**
 * The embedded default: the four services as modules of one process over the in-process
 * transport, events in a SQLite file under DATA_DIR. No servers to install.
 */
void runService('standalone', () => [AuthModule, IngestModule, WebhooksModule, SchedulerModule, ExecutorModule, NotifierModule]);
