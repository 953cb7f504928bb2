import { Controller, Get, Param, Req, Res, type BeforeApplicationShutdown } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BatchNotFound, encodePageCursor, positionOfCursor } from '@flotilla/domain';
import { ApiErrors, visibleTeamOf } from '@flotilla/platform';
import type { HistoryEntry } from '@flotilla/projections';
import type { Request, Response } from 'express';
import { ReadModelsService } from './read-models.service';
import { OwnTeamOnly } from './team-scope';

/** A stream sends what changed at most this often: a batch running 10,000 executions a second costs one view a second. */
export const LIVE_FLUSH_MS = 1000;
/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
export const LIVE_HEARTBEAT_MS = 15_000;
/** Most batch views the list stream sends in one flush; the rest go in the next ones. */
export const LIVE_MAX_BATCHES = 500;
/** Most history entries the detail stream sends in one flush; the rest go in the next ones. */
export const LIVE_MAX_HISTORY = 100;
/** How long a client waits before it reconnects a dropped stream (the `retry` field). */
const RECONNECT_MS = 2000;

/** How OpenAPI describes a stream: text/event-stream, each message's `data:` line a JSON document. */
const eventStreamResponse = (messages: string) => ({
  description: `An event stream that stays open: ${messages}`,
  content: { 'text/event-stream': { schema: { type: 'string' as const, description: 'Server-Sent Events (text/event-stream)' } } },
});

/**
 * One open `text/event-stream` response. `flush` runs at most once per LIVE_FLUSH_MS after
 * `changed()`, so a burst of events becomes one message; it answers true when it left work for
 * another flush.
 */
class LiveStream {
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly response: Response,
    private readonly flush: (stream: LiveStream) => boolean,
    private readonly onClose: () => void,
  ) {
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    // nginx buffers responses unless told not to, which would hold every message back.
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    response.write(`retry: ${RECONNECT_MS}\n\n`);
    this.heartbeat = setInterval(() => response.write(': ping\n\n'), LIVE_HEARTBEAT_MS);
    this.heartbeat.unref();
    response.on('close', () => this.close());
  }

  send(event: string, json: string): void {
    if (!this.closed) this.response.write(`event: ${event}\ndata: ${json}\n\n`);
  }

  changed(): void {
    if (this.closed || this.timer !== null) return;
    const wait = Math.max(0, this.lastFlush + LIVE_FLUSH_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lastFlush = Date.now();
      if (this.flush(this)) this.changed();
    }, wait);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    this.onClose();
    this.response.end();
  }
}

/**
 * Live views for the console over Server-Sent Events, read from the read models as the projections
 * commit: a client gets what changed within about a second, without polling.
 * Listed before BatchesController, so `GET /v1/batches/events` is not taken for a batch id.
 */
@ApiTags('batches')
@Controller('v1/batches')
export class BatchEventsController implements BeforeApplicationShutdown {
  private readonly open = new Set<LiveStream>();

  constructor(private readonly readModels: ReadModelsService) {}

  @Get('events')
  @ApiOperation({
    operationId: 'streamBatches',
    summary: 'Server-Sent Events: the batches that change, as they change',
    description:
      '`event: batch` with a BatchView each time a batch the key may see changes (at most once a second per batch; at most ' +
      `${LIVE_MAX_BATCHES} views a second, the rest following). A comment line every ${LIVE_HEARTBEAT_MS / 1000} s keeps it open.`,
  })
  @ApiOkResponse(eventStreamResponse('`event: batch`, `data:` a BatchView, per change.'))
  @ApiErrors({ 401: 'No API key, or one that is not live (with auth on).' })
  all(@Req() request: Request, @Res() response: Response): void {
    const team = visibleTeamOf(request);
    const queries = this.readModels.queries;
    let changed = new Set<string>();
    const stream = this.openStream(response, (live) => {
      const ids = [...changed];
      changed = new Set(ids.slice(LIVE_MAX_BATCHES));
      for (const id of ids.slice(0, LIVE_MAX_BATCHES)) {
        if (team !== undefined && queries.teamOfBatch(id) !== team) continue;
        const view = queries.getBatch(id);
        if (view !== null) live.send('batch', JSON.stringify(view));
      }
      return changed.size > 0;
    });
    const stopListening = this.readModels.onBatchesChanged((batchIds) => {
      for (const id of batchIds) changed.add(id);
      stream.changed();
    });
    response.on('close', stopListening);
  }

  @Get(':id/events')
  @OwnTeamOnly()
  @ApiOperation({
    operationId: 'streamBatch',
    summary: 'Server-Sent Events: one batch as it runs',
    description:
      '`event: batch` with the BatchView at once and each time it changes; `event: history` with `{ items }`, the history ' +
      `entries recorded since the stream opened (or since the last message), oldest first, at most ${LIVE_MAX_HISTORY} a ` +
      'message. At most one message of each a second.',
  })
  @ApiOkResponse(eventStreamResponse('`event: batch` (a BatchView) and `event: history` (`{ items: HistoryEntry[] }`).'))
  @ApiErrors({ 404: 'No batch has this id.' })
  one(@Param('id') id: string, @Req() _request: Request, @Res() response: Response): void {
    const queries = this.readModels.queries;
    const first = queries.getBatch(id);
    if (first === null) throw new BatchNotFound(id);
    let after = queries.newestHistoryPosition(id);
    const stream = this.openStream(response, (live) => {
      const view = queries.getBatch(id);
      if (view !== null) live.send('batch', JSON.stringify(view));
      const cursor = after === null ? {} : { cursor: encodePageCursor(after) };
      const page = JSON.parse(queries.historyJson(id, { limit: LIVE_MAX_HISTORY, order: 'asc', ...cursor })) as {
        items: HistoryEntry[];
        nextCursor: string | null;
      };
      if (page.items.length > 0) live.send('history', JSON.stringify({ items: page.items }));
      // Both reads run in one turn of the event loop, so no entry lands between them unseen.
      after = page.nextCursor === null ? queries.newestHistoryPosition(id) : (positionOfCursor(page.nextCursor) ?? after);
      return page.nextCursor !== null;
    });
    stream.send('batch', JSON.stringify(first));
    const stopListening = this.readModels.onBatchesChanged((batchIds) => {
      if (batchIds.has(id)) stream.changed();
    });
    response.on('close', stopListening);
  }

  /** Open streams never end by themselves: they are ended so the HTTP server can close. */
  beforeApplicationShutdown(): void {
    for (const stream of [...this.open]) stream.close();
  }

  private openStream(response: Response, flush: (stream: LiveStream) => boolean): LiveStream {
    const stream = new LiveStream(response, flush, () => this.open.delete(stream));
    this.open.add(stream);
    return stream;
  }
}
