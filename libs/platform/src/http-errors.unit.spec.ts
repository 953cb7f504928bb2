import { BadRequestException, HttpStatus } from '@nestjs/common';
import { BatchNotFound, IllegalBatchTransition, RuleViolation } from '@flotilla/domain';
import { plainToInstance, Type } from 'class-transformer';
import { ArrayMinSize, IsArray, IsInt, IsNotEmpty, IsString, Max, Min, ValidateNested, validate } from 'class-validator';
import { HttpErrorFilter, IsOptionalNotNull, validationProblems } from './http-errors';

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

class Checks {
  @IsOptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  pool?: string[];

  @IsOptionalNotNull()
  @IsInt({ message: 'size must be an integer from 1 to 10' })
  @Min(1, { message: 'size must be an integer from 1 to 10' })
  @Max(10, { message: 'size must be an integer from 1 to 10' })
  size?: number;

  @IsOptionalNotNull()
  @ValidateNested({ each: true })
  @Type(() => Inner)
  items?: Inner[];
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
    expect(respond(new BatchNotFound('bat_x'))).toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: 'Batch bat_x does not exist' },
    });
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
    expect(respond(new Error('database password is hunter2'))).toEqual({
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      body: { statusCode: 500, error: 'Internal Server Error', message: 'Internal error' },
    });
  });

  it("lists a field's type check first, a shared message once, and an element that is not an object by its path", async () => {
    const problemsOf = async (plain: object) => validationProblems(await validate(plainToInstance(Checks, plain)));
    expect((await problemsOf({ pool: null }))[0]).toEqual({ code: 'invalid_field', field: 'pool', message: 'pool must be an array' });
    expect(await problemsOf({ size: Number('abc') })).toEqual([
      { code: 'invalid_field', field: 'size', message: 'size must be an integer from 1 to 10' },
    ]);
    expect(await problemsOf({ items: [{ name: 'a' }, null] })).toEqual([
      { code: 'invalid_field', field: 'items[1]', message: 'items[1] must be an object' },
    ]);
  });

  it('IsOptionalNotNull: absent passes, null is checked like any value', async () => {
    expect(await validate(plainToInstance(Checks, {}))).toEqual([]);
    expect((await validate(plainToInstance(Checks, { size: null }))).map((error) => error.property)).toEqual(['size']);
    expect((await validate(plainToInstance(Checks, { items: null }))).map((error) => error.property)).toEqual(['items']);
  });

  it('names nested fields with paths', async () => {
    const errors = await validate(plainToInstance(Outer, { count: 'x', items: [{ name: 'a' }, { name: 3 }] }));
    expect(validationProblems(errors)).toEqual([
      { code: 'invalid_field', field: 'count', message: 'count must be an integer number' },
      { code: 'invalid_field', field: 'items[1].name', message: 'items[1].name must be a string' },
    ]);
  });
});
