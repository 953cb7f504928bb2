// The console's one client of the REST API: the key (session storage), the Bearer header, the error shape.

const KEY_STORAGE = 'flotilla.apiKey';
export const SIGNED_OUT_EVENT = 'flotilla:signed-out';

export interface ApiErrorDetail {
  field?: string;
  message: string;
  row?: number;
  code?: string;
  column?: string;
}

/** An answer other than 2xx, with the API's error body `{ statusCode, error, message, details? }`. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: ApiErrorDetail[];

  constructor(status: number, message: string, details: ApiErrorDetail[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

export function getApiKey(): string | null {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key === null) window.sessionStorage.removeItem(KEY_STORAGE);
    else window.sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage refused (private mode): the key then lives only as long as the page.
  }
}

export function authHeaders(): Record<string, string> {
  const key = getApiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

const errorOf = async (response: Response): Promise<ApiError> => {
  let message = `${response.status} ${response.statusText}`.trim();
  let details: ApiErrorDetail[] = [];
  try {
    const body = (await response.json()) as { message?: unknown; details?: unknown };
    if (typeof body.message === 'string') message = body.message;
    else if (Array.isArray(body.message)) message = body.message.join('; ');
    if (Array.isArray(body.details)) details = body.details as ApiErrorDetail[];
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, message, details);
};

const signedOut = (): void => {
  if (getApiKey() === null) return;
  setApiKey(null);
  window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
};

const send = async <T>(path: string, init: RequestInit): Promise<T> => {
  const response = await fetch(path, init);
  if (!response.ok) {
    if (response.status === 401) signedOut();
    throw await errorOf(response);
  }
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) return (await response.json()) as T;
  return (await response.text()) as T;
};

/** Calls the API with the key; `json` is sent as the JSON body. Throws ApiError for an answer other than 2xx. */
export async function apiFetch<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const { json, headers, ...rest } = init;
  const merged: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
  new Headers(headers).forEach((value, name) => {
    merged[name] = value;
  });
  if (json !== undefined) merged['Content-Type'] = 'application/json';
  return send<T>(path, {
    ...rest,
    ...(json !== undefined ? { body: JSON.stringify(json), method: rest.method ?? 'POST' } : {}),
    headers: merged,
  });
}

/** A multipart POST: the browser streams the form's File parts, it does not read them into memory first. */
export async function apiUpload<T>(path: string, form: FormData): Promise<T> {
  return send<T>(path, { method: 'POST', body: form, headers: { Accept: 'application/json', ...authHeaders() } });
}

/** The message and each detail as "field (row n): message", for a notification or an alert. */
export function formatError(error: unknown): string {
  if (error instanceof ApiError) {
    const lines = error.details.map((detail) => {
      const where = [detail.field ?? detail.column, detail.row !== undefined ? `(row ${detail.row})` : undefined].filter(Boolean).join(' ');
      return where ? `${where}: ${detail.message}` : detail.message;
    });
    return [error.message, ...lines.filter((line) => line !== error.message)].join('\n');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
