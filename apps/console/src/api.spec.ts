import { ApiError, SIGNED_OUT_EVENT, apiFetch, formatError, getApiKey, setApiKey } from './api';

const answer = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('apiFetch', () => {
  afterEach(() => {
    setApiKey(null);
    jest.restoreAllMocks();
  });

  it('sends the key as a Bearer header and the json option as the body', async () => {
    setApiKey('k1');
    const fetchMock = jest.fn().mockResolvedValue(answer(200, { ok: true }));
    global.fetch = fetchMock;
    await expect(apiFetch('/v1/x', { json: { reason: 'r' } })).resolves.toEqual({ ok: true });
    const [path, init] = fetchMock.mock.calls[0] as [string, RequestInit];
    expect(path).toBe('/v1/x');
    expect(init.method).toBe('POST');
    expect(init.body).toBe('{"reason":"r"}');
    expect(init.headers).toMatchObject({ Authorization: 'Bearer k1', 'Content-Type': 'application/json' });
  });

  it('throws the API error body as an ApiError, and a 401 signs out', async () => {
    setApiKey('stale');
    const signedOut = jest.fn();
    window.addEventListener(SIGNED_OUT_EVENT, signedOut);
    global.fetch = jest.fn().mockResolvedValue(answer(401, { statusCode: 401, error: 'Unauthorized', message: 'Invalid API key' }));
    await expect(apiFetch('/v1/x')).rejects.toMatchObject({ status: 401, message: 'Invalid API key' });
    expect(getApiKey()).toBeNull();
    expect(signedOut).toHaveBeenCalledTimes(1);
    window.removeEventListener(SIGNED_OUT_EVENT, signedOut);
  });

  it('formats the details with field and row', () => {
    const error = new ApiError(422, 'Invalid items', [{ field: 'email', row: 3, message: 'required input "email" is empty' }]);
    expect(formatError(error)).toBe('Invalid items\nemail (row 3): required input "email" is empty');
  });
});
