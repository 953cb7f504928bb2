// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { IngestModule } from '@flotilla/ingest';
import { WebhooksModule } from '@flotilla/notification';
import { AuthModule, runService } from '@flotilla/platform';

/** The REST API as its own process: commands to the event store, reads from its own projections. */
void runService('ingest-api', () => [AuthModule, IngestModule, WebhooksModule]);
