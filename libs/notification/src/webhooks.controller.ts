import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiErrors,
  CLOCK,
  PAGE_QUERY_ERROR,
  JSON_BODY_ERRORS,
  OutboundRules,
  type Clock,
  TeamOwned,
  actorOf,
  teamOf,
  visibleTeamOf,
} from '@flotilla/platform';
import { DeliveryLog } from './delivery-log';
import { WebhookNotFound, pageByOffset, type Webhook } from '@flotilla/domain';
import { WebhookRegistry } from './webhook-registry';
import {
  DeliveriesPageResponse,
  DeliveriesQuery,
  RegisterWebhookRequest,
  WebhookPageResponse,
  WebhooksQuery,
  WebhookResponse,
} from './webhooks.dto';

@ApiTags('webhooks')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(
    private readonly registry: WebhookRegistry,
    private readonly deliveryLog: DeliveryLog,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly outbound: OutboundRules,
  ) {}

  @Post()
  @TeamOwned()
  @HttpCode(201)
  @ApiOperation({ operationId: 'registerWebhook', summary: 'Register a webhook: signed POSTs of the chosen events to a URL' })
  @ApiCreatedResponse({ type: WebhookResponse })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    422:
      'A rule is broken (an event type unknown to the format, not an http(s) URL, an address denied by OUTBOUND_DENY, ' +
      'short secret); `details` names the field.',
  })
  async register(@Body() body: RegisterWebhookRequest, @Req() request: Request): Promise<WebhookResponse> {
    await this.outbound.assertAllowed(body.url, 'url');
    const { webhook } = await this.registry.register(
      {
        url: body.url,
        events: body.events,
        secret: body.secret,
        ...(body.workflowId === undefined ? {} : { workflowId: body.workflowId }),
        ...(body.format === undefined ? {} : { format: body.format }),
        actor: actorOf(request),
        now: this.clock.now(),
      },
      teamOf(request),
    );
    return toResponse(webhook);
  }

  @Get()
  @ApiOperation({ operationId: 'listWebhooks', summary: "The webhooks the key's team may see, oldest registered first" })
  @ApiOkResponse({ type: WebhookPageResponse })
  @ApiErrors({ 400: PAGE_QUERY_ERROR })
  async list(@Query() query: WebhooksQuery, @Req() request: Request): Promise<WebhookPageResponse> {
    const team = visibleTeamOf(request);
    const visible = (await this.registry.list()).filter((webhook) => team === undefined || this.registry.teamOfListed(webhook) === team);
    // In registration order.
    const page = pageByOffset(visible, { limit: query.limit ?? 50, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) });
    return { items: page.items.map(toResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWebhook', summary: 'One webhook (its secret is never returned)' })
  @ApiOkResponse({ type: WebhookResponse })
  @ApiErrors({ 404: 'No webhook has this id.' })
  async get(@Param('id') id: string, @Req() request: Request): Promise<WebhookResponse> {
    await this.assertVisible(id, request);
    return toResponse(await this.registry.get(id));
  }

  @Get(':id/deliveries')
  @ApiOperation({
    operationId: 'listWebhookDeliveries',
    summary: 'The delivery attempts of a webhook, newest first, with their status codes',
  })
  @ApiOkResponse({ type: DeliveriesPageResponse, description: 'Delivery attempts, newest first.' })
  @ApiErrors({
    400: 'A cursor this API did not return, or a limit that is not an integer.',
    404: 'No webhook has this id.',
    422: 'limit out of range.',
  })
  async deliveries(@Param('id') id: string, @Query() query: DeliveriesQuery, @Req() request: Request): Promise<DeliveriesPageResponse> {
    // An unknown webhook is a 404, not an empty list; so is another team's, to a submitter.
    await this.assertVisible(id, request);
    const page = await this.deliveryLog.read(id, query);
    return { items: [...page.items], nextCursor: page.nextCursor };
  }

  private async assertVisible(id: string, request: Request): Promise<void> {
    const team = visibleTeamOf(request);
    const owner = await this.registry.teamOf(id);
    if (team !== undefined && owner !== team) throw new WebhookNotFound(id);
  }
}

/** The secret is not on `Webhook` at all; the fields are still listed one by one so nothing else leaks in later. */
const toResponse = (webhook: Webhook): WebhookResponse => ({
  id: webhook.id,
  url: webhook.url,
  events: [...webhook.events],
  workflowId: webhook.workflowId,
  format: webhook.format,
  createdAt: webhook.createdAt,
});
