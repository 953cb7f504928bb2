import 'reflect-metadata';
import { NotifierModule } from '@flotilla/notification';
import { runService } from '@flotilla/platform';

/** The notifier as its own process: webhook deliveries. */
void runService('notifier', () => [NotifierModule]);
