import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Module({})
class ExecutorModule {}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ExecutorModule);
  app.enableShutdownHooks();
  new Logger('executor').log('started');
}

void bootstrap();
