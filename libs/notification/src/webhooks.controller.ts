import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, CLOCK, JSON_BODY_ERRORS, OutboundRules, type Clock } from '@flotilla/platform';
import { DeliveryLog } from './delivery-log';
import { type Webhook } from '@flotilla/domain';
import { WebhookRegistry } from './webhook-registry';
import { DeliveriesPageResponse, DeliveriesQuery, RegisterWebhookRequest, WebhookResponse } from './webhooks.dto';

/** Who registers, when the caller does not say (`X-Actor`, as in the rest of the API); recorded on the registration event. */
const DEFAULT_ACTOR = 'api';

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
  @HttpCode(201)
  @ApiHeader({ name: 'X-Actor', required: false, description: `Who registers, for the audit trail; default "${DEFAULT_ACTOR}".` })
  @ApiOperation({ operationId: 'registerWebhook', summary: 'Register a webhook: signed POSTs of the chosen events to a URL' })
  @ApiCreatedResponse({ type: WebhookResponse })
  @ApiErrors({
    ...JSON_BODY_ERRORS,
    422:
      'A rule is broken (an event type unknown to the format, not an http(s) URL, an address denied by OUTBOUND_DENY, ' +
      'short secret); `details` names the field.',
  })
  async register(@Body() body: RegisterWebhookRequest, @Headers('x-actor') actor: string | undefined): Promise<WebhookResponse> {
    await this.outbound.assertAllowed(body.url, 'url');
    const { webhook } = await this.registry.register({
      url: body.url,
      events: body.events,
      secret: body.secret,
      ...(body.workflowId === undefined ? {} : { workflowId: body.workflowId }),
      ...(body.format === undefined ? {} : { format: body.format }),
      actor: actor?.trim().slice(0, 200) || DEFAULT_ACTOR,
      now: this.clock.now(),
    });
    return toResponse(webhook);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getWebhook', summary: 'One webhook (its secret is never returned)' })
  @ApiOkResponse({ type: WebhookResponse })
  @ApiErrors({ 404: 'No webhook has this id.' })
  async get(@Param('id') id: string): Promise<WebhookResponse> {
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
  async deliveries(@Param('id') id: string, @Query() query: DeliveriesQuery): Promise<DeliveriesPageResponse> {
    // An unknown webhook is a 404, not an empty list.
    await this.registry.get(id);
    const page = await this.deliveryLog.read(id, query);
    return { items: [...page.items], nextCursor: page.nextCursor };
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
