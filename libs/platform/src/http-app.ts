import {
  BadRequestException,
  HttpException,
  Logger,
  UnsupportedMediaTypeException,
  type DynamicModule,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { NestFactory, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger as PinoLogger } from 'nestjs-pino';
import type { PlatformConfig } from './config';
import { KeyRegistry } from './auth/key-registry';
import { keylessBodiesRefused } from './auth/auth.guard';
import { ContentTypeGuard } from './content-type.guard';
import { HttpErrorFilter, createValidationPipe, errorBody } from './http-errors';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NextFunction, Request, Response } from 'express';

/** Largest JSON body accepted (a JSON batch of ~100,000 small items); bigger batches come as CSV. */
export const JSON_BODY_LIMIT = process.env['JSON_BODY_LIMIT'] ?? '50mb';

/** Deepest nesting of arrays and objects accepted in any JSON the API reads (a body, or a form field). */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuses (400) a JSON text nested deeper than MAX_JSON_DEPTH, by counting `[` and `{` outside
 * strings: a linear scan with no recursion, run before the text is parsed, so that nothing after
 * it (class-transformer, class-validator, the domain) ever walks a structure deep enough to
 * overflow the stack. Bytes are scanned as they are for UTF-8, whose multi-byte sequences never
 * contain an ASCII byte. The one check for JSON bodies and multipart JSON fields alike.
 */
export const assertJsonDepth = (text: string | Uint8Array, field = 'body'): void => {
  const at: (index: number) => number = typeof text === 'string' ? (index) => text.charCodeAt(index) : (index) => text[index] ?? 0;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = at(index);
    if (inString) {
      if (code === 0x5c) index++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) {
        const name = field === 'body' ? 'The request body' : field;
        const message = `${name} is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`;
        throw new BadRequestException({ message, details: [{ code: 'too_deep', field, message }] });
      }
    } else if (code === 0x5d || code === 0x7d) {
      depth--;
    }
  }
};

/** body-parser's `verify` hook: the depth check on the raw body, decoded first unless it is UTF-8. */
const verifyJsonDepth = (_request: unknown, _response: unknown, body: Buffer, charset: string | null): void => {
  if (charset === null || charset === 'utf-8' || charset === 'utf8') return assertJsonDepth(body);
  let text: string;
  try {
    text = new TextDecoder(charset).decode(body);
  } catch {
    throw new UnsupportedMediaTypeException(`The charset ${charset} is not supported; send JSON as UTF-8`);
  }
  assertJsonDepth(text);
};

/**
 * Creates the HTTP application for a module: JSON bodies up to the limit, the API's error shape,
 * DTO validation, the Content-Type rule for mutating requests, and the OpenAPI description at
 * /docs (JSON at /docs-json), generated from the controllers and DTOs.
 */
export const createHttpApp = async (
  module: DynamicModule | Type<unknown>,
  options: {
    logger?: boolean;
    structuredLogs?: boolean;
    /** The module has the AuthModule and keys are on: a body is read only for a live key (keylessBodiesRefused). */
    keysBeforeBodies?: boolean;
    /** The built web console (index.html and assets/) to serve beside the API; none when absent. */
    consoleDir?: string;
  } = {},
): Promise<INestApplication> => {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    // With structured logs (the module imports loggingModule), what Nest logs while it starts is
    // kept until pino takes over, so that every line, the first ones too, is JSON.
    ...(options.structuredLogs === true ? { bufferLogs: true } : {}),
    ...(options.logger === false ? { logger: ['error', 'warn'] } : {}),
  });
  if (options.structuredLogs === true) app.useLogger(app.get(PinoLogger));
  // Names the framework to every client, and so the exploits to try: nothing it needs to know.
  app.disable('x-powered-by');
  if (options.consoleDir !== undefined) serveConsole(app, options.consoleDir);
  if (options.keysBeforeBodies === true) app.use(keylessBodiesRefused(app.get(KeyRegistry)));
  // body-parser inflates gzip, deflate and br itself, and counts the limit on the inflated bytes: bombs get 413.
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT, verify: verifyJsonDepth });
  // Body-parser errors never reach Nest's filters with their kind intact: answer them here.
  app.use(bodyParserErrors);
  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalGuards(new ContentTypeGuard(app.get(Reflector)));
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Flotilla')
      .setDescription('Run a workflow once per input, in waves, with pause, resume, cancel, progress and webhooks.')
      .setVersion('1')
      // Relative: the description is right on whatever host and port serves it (PUBLIC_URL, a proxy, a test's free port).
      .addServer('/', 'The server this description is served from')
      // Every operation but the public ones (health, the async target's callback) needs an API key.
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        description: 'An API key, `flt_…` (POST /v1/keys; the first one is in <DATA_DIR>/admin.key)',
      })
      .addSecurityRequirements('bearer')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
};

/** Paths the API answers; everything else a browser asks for is the console's. */
const API_PATHS = /^\/(v1|workflow_runs|docs|docs-json|health|metrics)(\/|$)/;

/**
 * Serves the web console from `dir` without a key (it holds no data; every read it makes is an API
 * call with one): its hashed assets cached for good, and index.html, never cached, for any other
 * GET a browser makes outside the API paths, so a deep link such as /batches/<id> opens the page.
 * A client that does not ask for HTML still gets the API's JSON 404 for an unknown path.
 */
const serveConsole = (app: NestExpressApplication, dir: string): void => {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) {
    new Logger('Console').warn(`No console in ${dir} (npm run build makes it); serving the API only`);
    return;
  }
  app.useStaticAssets(join(dir, 'assets'), { prefix: '/assets/', index: false, immutable: true, maxAge: '365d' });
  app.use((request: Request, response: Response, next: NextFunction) => {
    const wantsPage =
      (request.method === 'GET' || request.method === 'HEAD') &&
      !API_PATHS.test(request.path) &&
      (request.headers.accept ?? '').includes('text/html');
    if (!wantsPage) return next();
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(index);
  });
};

export const listen = async (app: INestApplication, config: PlatformConfig, name: string): Promise<void> => {
  await app.listen(config.port, config.host);
  new Logger(name).log(
    `listening on ${await app.getUrl()} (data in ${config.dataDir}, events in ${config.eventStoreUrl.replace(/\/\/[^@/]*@/, '//***@')})`,
  );
};

/**
 * Express error middleware for the JSON body parser. Its errors are http-errors with a `type`
 * (and a 4xx status, or 400 for a stream error such as a body that does not inflate): each gets
 * the API's shape and a message of its own. HttpExceptions (the depth check in `verify`) go on
 * to the global filter as they are.
 */
const bodyParserErrors = (error: unknown, request: Request, response: Response, next: NextFunction): void => {
  if (error instanceof HttpException) return next(error);
  const { type, status, encoding, charset } = (error ?? {}) as { type?: unknown; status?: unknown; encoding?: unknown; charset?: unknown };
  const answer = (statusCode: number, message: string): void => void response.status(statusCode).json(errorBody(statusCode, message));
  switch (type) {
    case 'entity.parse.failed':
      return answer(400, 'The request body is not valid JSON');
    case 'entity.too.large':
      return answer(413, `The request body is larger than ${JSON_BODY_LIMIT}`);
    case 'encoding.unsupported':
      return answer(415, `Content-Encoding ${String(encoding)} is not supported; send the body uncompressed or as gzip, deflate or br`);
    case 'charset.unsupported':
      return answer(415, `The charset ${String(charset)} is not supported; send JSON as UTF-8`);
    case 'request.aborted':
      return answer(400, 'The request was interrupted before its body ended');
    case 'request.size.invalid':
      return answer(400, 'The request body is not as long as its Content-Length says');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const contentEncoding = (request.headers['content-encoding'] ?? 'identity').toLowerCase();
    return answer(
      400,
      contentEncoding === 'identity'
        ? 'The request body could not be read'
        : `The request body is not valid ${contentEncoding} data (Content-Encoding)`,
    );
  }
  next(error);
};
