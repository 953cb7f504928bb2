import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Module({})
class NotifierModule {}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(NotifierModule);
  app.enableShutdownHooks();
  new Logger('notifier').log('started');
}

void bootstrap();
