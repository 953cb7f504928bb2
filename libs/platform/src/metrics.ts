import { Controller, Get, Header, Injectable, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { isBatch, type BatchEvent, type BatchState } from '@flotilla/domain';
import type { Request, Response } from 'express';
import { Public } from './auth/access';
import { withinMs } from './time-bound';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** An execution's end as counted by flotilla_executions_total. */
export type ExecutionOutcome = 'completed' | 'failed';

/** What a scrape asks of a module that knows a current value: the value now, or by label. */
export type Sample = number | ReadonlyMap<string, number>;

/**
 * The process's metrics, in one registry, served by GET /metrics as Prometheus text.
 *
 * One provider per process (the global CoreModule makes it), so services sharing a process share
 * it, and each fact is counted once: counts come from where the fact happens (the command handler
 * that appended an execution's outcome, the client that made a call), and the current values (the
 * read model's batches, the executor's queue, the throttled workflows) are asked for at scrape time
 * from the module that holds them, which registers itself with `observe`. A gauge nobody registers
 * for (the executor's queue in an ingest-api process) is not exported.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  private readonly executions = new Counter({
    name: 'flotilla_executions_total',
    help: 'Executions that got their outcome (completed or failed), by workflow id and outcome',
    labelNames: ['workflow', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly callDuration = new Histogram({
    name: 'flotilla_target_call_duration_seconds',
    help: 'Duration of each call to a workflow target, from the request to the end of its answer (or the failure)',
    labelNames: ['result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly lateness = new Histogram({
    name: 'flotilla_wave_lateness_seconds',
    help: 'How late each triggered execution was against its executeAt (trigger time minus executeAt)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });
  private readonly observed = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** An execution ended: counted once, by the process that appended its outcome. */
  executionEnded(workflowId: string, outcome: ExecutionOutcome): void {
    this.executions.inc({ workflow: workflowId, outcome });
  }

  /** A call to a target ended: `result` is `response` (any HTTP status) or `failure` (timeout, refused, reset). */
  targetCalled(seconds: number, result: 'response' | 'failure'): void {
    this.callDuration.observe({ result }, seconds);
  }

  /** An execution was triggered `seconds` after its executeAt (negative when early: counted as 0). */
  executionTriggeredLate(seconds: number): void {
    this.lateness.observe(Math.max(0, seconds));
  }

  /**
   * Registers a gauge whose value is read at scrape time. `label` names the label of a sample given
   * as a map (one series per key). The first registration of a name wins: a second module in the
   * same process asking for it (two services in one process) does not report it twice.
   */
  observe(name: string, help: string, read: () => Sample | Promise<Sample>, label?: string): void {
    if (this.observed.has(name)) return;
    this.observed.add(name);
    new Gauge({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [this.registry],
      async collect() {
        this.reset();
        // A value that cannot be read in time (Kafka away) is NaN (no series for a labelled one) in
        // this scrape, never a made-up 0; the rest still answers.
        const sample = await withinScrape(read);
        if (sample === null) {
          if (label === undefined) this.set(NaN);
          return;
        }
        if (typeof sample === 'number') this.set(sample);
        else if (label !== undefined) for (const [key, value] of sample) this.set({ [label]: key }, value);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  json(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** How long a scrape waits for one value read at scrape time. */
const SCRAPE_READ_MS = 2000;

const withinScrape = (read: () => Sample | Promise<Sample>): Promise<Sample | null> =>
  withinMs(Promise.resolve().then(read), SCRAPE_READ_MS, 'A value read at scrape time').catch(() => null);

/**
 * The batch command handler's `onAppended`: the facts counted from the events this process appended
 * (outcomes by workflow, the lateness of each triggered execution).
 */
export const batchEventMetrics =
  (metrics: Metrics) =>
  (events: readonly BatchEvent[], state: BatchState): void => {
    const workflowId = isBatch(state) ? state.settings.workflowId : 'unknown';
    for (const event of events) {
      if (event.type === 'ExecutionCompleted') metrics.executionEnded(workflowId, 'completed');
      else if (event.type === 'ExecutionFailed') metrics.executionEnded(workflowId, 'failed');
      else if (event.type === 'ExecutionTriggered')
        metrics.executionTriggeredLate((Date.parse(event.data.occurredAt) - Date.parse(event.data.executeAt)) / 1000);
    }
  };

/** The media type of the Prometheus text exposition format. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4';

/**
 * GET /metrics: public, like /health (no key needed), so a Prometheus scraper needs no credentials.
 * Prometheus text by default; `Accept: application/json` gets the same metrics as prom-client's JSON
 * (for a script without a Prometheus parser).
 */
@ApiTags('health')
@Public()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get('metrics')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    operationId: 'getMetrics',
    summary: "The process's metrics: Prometheus text, or JSON with Accept: application/json",
  })
  @ApiProduces(PROMETHEUS_TEXT, 'application/json')
  @ApiOkResponse({
    description: 'The metrics of this process (counters, histograms, gauges and the Node process metrics).',
    content: {
      [PROMETHEUS_TEXT]: { schema: { type: 'string', description: 'Prometheus text exposition, version 0.0.4.' } },
      'application/json': {
        schema: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'help', 'type', 'values'],
            properties: {
              name: { type: 'string' },
              help: { type: 'string' },
              type: { type: 'string', enum: ['counter', 'gauge', 'histogram', 'summary'] },
              values: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { value: { type: 'number' }, labels: { type: 'object', additionalProperties: true } },
                },
              },
            },
          },
        },
      },
    },
  })
  async metricsOf(@Req() request: Request, @Res() response: Response): Promise<void> {
    const json = request.accepts([PROMETHEUS_TEXT, 'text/plain', 'application/json']) === 'application/json';
    if (json) {
      response.json(await this.metrics.json());
      return;
    }
    response.type(this.metrics.contentType).send(await this.metrics.text());
  }
}
