import { Module } from '@nestjs/common';
import { SchedulerService } from './scheduler.service';

/** The scheduler service: durable timers for batch starts, wave due times and async callback deadlines. */
@Module({ providers: [SchedulerService] })
export class SchedulerModule {}
