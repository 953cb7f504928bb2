import 'reflect-metadata';
import { IngestModule } from '@flotilla/ingest';
import { WebhooksModule } from '@flotilla/notification';
import { runService } from '@flotilla/platform';

/** The REST API as its own process: commands to the event store, reads from its own projections. */
void runService('ingest-api', () => [IngestModule, WebhooksModule]);
