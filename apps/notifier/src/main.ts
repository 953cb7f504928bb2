// First: on a Node too old for node:sqlite this exits with one clear line, before any import below fails.
import '../../../scripts/check-node.cjs';
import 'reflect-metadata';
import { NotifierModule } from '@flotilla/notification';
import { runService } from '@flotilla/platform';

/** The notifier as its own process: webhook deliveries. */
void runService('notifier', () => [NotifierModule]);
