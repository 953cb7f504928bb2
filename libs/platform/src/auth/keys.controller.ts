import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsString, Matches } from 'class-validator';
import type { Request } from 'express';
import { ApiErrors, JSON_BODY_ERRORS } from '../api-docs';
import { CLOCK, type Clock } from '../clock';
import { AdminOnly, actorOf } from './access';
import { KeyRegistry, type KeyRecord } from './key-registry';
import { KEY_NAME_PATTERN, ROLES, TEAM_PATTERN, type Role } from './keys';

/** Team names end up in actors (`<team>/<name>`) and URLs: lowercase words, no slash. */

export class CreateKeyRequest {
  @ApiProperty({
    description: 'The team the key belongs to: lowercase letters, digits, - and _.',
    example: 'alpha',
    pattern: TEAM_PATTERN.source,
  })
  @IsString()
  @Matches(TEAM_PATTERN, { message: 'team must be 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit' })
  readonly team!: string;

  @ApiProperty({ enum: ROLES, description: "admin: everything; operator: every team's batches, no keys; submitter: its own team." })
  @IsIn(ROLES, { message: `role must be one of ${ROLES.join(', ')}` })
  readonly role!: Role;

  @ApiProperty({
    description: 'What the key is for; the actor of its events is `<team>/<name>`.',
    example: 'ci',
    pattern: KEY_NAME_PATTERN.source,
  })
  @IsString()
  @Matches(KEY_NAME_PATTERN, { message: 'name must be 1 to 100 letters, digits, ., - or _, starting with a letter or digit' })
  readonly name!: string;
}

export class KeyResponse {
  @ApiProperty({ example: 'key_01jb3x9d2v4k5m6n7p8q9r0s1t' })
  readonly id!: string;
  @ApiProperty({ example: 'alpha' })
  readonly team!: string;
  @ApiProperty({ enum: ROLES })
  readonly role!: Role;
  @ApiProperty({ example: 'ci' })
  readonly name!: string;
  @ApiProperty({ format: 'date-time' })
  readonly createdAt!: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'When it was revoked; absent for a live key.' })
  readonly revokedAt?: string;
}

export class CreatedKeyResponse extends KeyResponse {
  @ApiProperty({ description: 'The key: shown this once, stored only as its SHA-256.', example: 'flt_2c9v…' })
  readonly key!: string;
}

export class KeysResponse {
  @ApiProperty({ type: [KeyResponse] })
  readonly keys!: KeyResponse[];
}

const toResponse = ({ hash: _hash, ...record }: KeyRecord): KeyResponse => record;

@ApiTags('keys')
@AdminOnly()
@Controller('v1/keys')
export class KeysController {
  constructor(
    private readonly keys: KeyRegistry,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ operationId: 'createKey', summary: 'Create an API key for a team and role; the key is in this answer only (admin)' })
  @ApiCreatedResponse({ type: CreatedKeyResponse })
  @ApiErrors({ ...JSON_BODY_ERRORS, 403: 'The caller is not an admin.' })
  async create(@Req() request: Request, @Body() body: CreateKeyRequest): Promise<CreatedKeyResponse> {
    const created = await this.keys.create({
      team: body.team,
      role: body.role,
      name: body.name,
      actor: actorOf(request),
      now: this.clock.now(),
    });
    // A fresh id never collides; undefined is only for the fixed id of the first-start key.
    if (created === undefined) throw new Error('A new key id was already taken');
    return { ...toResponse(created.record), key: created.key };
  }

  @Get()
  @ApiOperation({ operationId: 'listKeys', summary: 'Every key, revoked ones included, without the key or its hash (admin)' })
  @ApiOkResponse({ type: KeysResponse })
  @ApiErrors({ 403: 'The caller is not an admin.' })
  list(): KeysResponse {
    return { keys: this.keys.list().map(toResponse) };
  }

  @Delete(':id')
  @ApiOperation({ operationId: 'revokeKey', summary: 'Revoke a key: every process refuses it within a second (admin)' })
  @ApiOkResponse({ type: KeyResponse, description: 'The key, revoked (again changes nothing).' })
  @ApiErrors({ 403: 'The caller is not an admin.', 404: 'No key has this id.' })
  async revoke(@Req() request: Request, @Param('id') id: string): Promise<KeyResponse> {
    return toResponse(await this.keys.revoke(id, actorOf(request), this.clock.now()));
  }
}
