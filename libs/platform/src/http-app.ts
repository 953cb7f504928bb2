import { Logger, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { PlatformConfig } from './config';
import { HttpErrorFilter, createValidationPipe, errorBody } from './http-errors';
import type { NextFunction, Request, Response } from 'express';

/** Largest JSON body accepted (a JSON batch of ~100,000 small items); bigger batches come as CSV. */
export const JSON_BODY_LIMIT = process.env['JSON_BODY_LIMIT'] ?? '50mb';

/**
 * Creates the HTTP application for a module: JSON bodies up to the limit, the API's error shape,
 * DTO validation, and the OpenAPI description at /docs (JSON at /docs-json), generated from the
 * controllers and DTOs.
 */
export const createHttpApp = async (module: DynamicModule | Type<unknown>, options: { logger?: boolean } = {}): Promise<INestApplication> => {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    ...(options.logger === false ? { logger: ['error', 'warn'] } : {}),
  });
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  // Body-parser errors never reach Nest's filters with their kind intact: answer them here.
  app.use(bodyParserErrors);
  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Flotilla')
      .setDescription('Run a workflow once per input, in waves, with pause, resume, cancel, progress and webhooks.')
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
};

export const listen = async (app: INestApplication, config: PlatformConfig, name: string): Promise<void> => {
  await app.listen(config.port, config.host);
  new Logger(name).log(`listening on ${await app.getUrl()} (data in ${config.dataDir}, events in ${config.eventStoreUrl.replace(/\/\/[^@/]*@/, '//***@')})`);
};

/** Express error middleware for the JSON body parser: malformed (400) and oversized (413) bodies. */
const bodyParserErrors = (error: unknown, _request: Request, response: Response, next: NextFunction): void => {
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.parse.failed') return void response.status(400).json(errorBody(400, 'The request body is not valid JSON'));
  if (type === 'entity.too.large') return void response.status(413).json(errorBody(413, `The request body is larger than ${JSON_BODY_LIMIT}`));
  next(error);
};
