import { BadRequestException, HttpStatus } from '@nestjs/common';
import { BatchNotFound, IllegalBatchTransition, RuleViolation } from '@flotilla/domain';
import { plainToInstance, Type } from 'class-transformer';
import { IsInt, IsString, ValidateNested, validate } from 'class-validator';
import { HttpErrorFilter, validationProblems } from './http-errors';

class Inner {
  @IsString()
  name!: string;
}
class Outer {
  @IsInt()
  count!: number;

  @ValidateNested({ each: true })
  @Type(() => Inner)
  items!: Inner[];
}

const respond = (exception: unknown) => {
  const sent: { status?: number; body?: unknown } = {};
  const response = {
    headersSent: false,
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: unknown) {
      sent.body = body;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) };
  new HttpErrorFilter().catch(exception, host as never);
  return sent;
};

describe('the API error shape', () => {
  it('maps domain errors by kind: 404, 409 naming the status, 422 with details', () => {
    expect(respond(new BatchNotFound('bat_x'))).toEqual({ status: 404, body: { statusCode: 404, error: 'Not Found', message: 'Batch bat_x does not exist' } });
    expect(respond(new IllegalBatchTransition('bat_x', 'completed', 'pause'))).toEqual({
      status: 409,
      body: { statusCode: 409, error: 'Conflict', message: 'Cannot pause batch bat_x: it is completed' },
    });
    const problems = [{ code: 'invalid_setting', field: 'maxConcurrent', message: 'maxConcurrent must be an integer from 1 to 10000' }];
    expect(respond(new RuleViolation('bad', problems))).toEqual({
      status: 422,
      body: { statusCode: 422, error: 'Unprocessable Entity', message: 'bad', details: problems },
    });
  });

  it('keeps the details of validation errors and hides the text of unexpected ones', () => {
    const details = [{ code: 'invalid_field', field: 'count', message: 'count must be an integer' }];
    expect(respond(new BadRequestException({ message: 'count must be an integer', details })).body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'count must be an integer',
      details,
    });
    expect(respond(new Error('database password is hunter2'))).toEqual({ status: HttpStatus.INTERNAL_SERVER_ERROR, body: { statusCode: 500, error: 'Internal Server Error', message: 'Internal error' } });
  });

  it('names nested fields with paths', async () => {
    const errors = await validate(plainToInstance(Outer, { count: 'x', items: [{ name: 'a' }, { name: 3 }] }));
    expect(validationProblems(errors)).toEqual([
      { code: 'invalid_field', field: 'count', message: 'count must be an integer number' },
      { code: 'invalid_field', field: 'items[1].name', message: 'items[1].name must be a string' },
    ]);
  });
});
