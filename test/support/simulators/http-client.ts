/**
 * A small JSON HTTP client for the simulator tests: one call, answer status, parsed body and headers.
 */
export interface JsonResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export async function request<T = any>( // eslint-disable-line @typescript-eslint/no-explicit-any
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, { ...init, redirect: 'manual' });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  const parsed = text.length > 0 && type.includes('json') ? (JSON.parse(text) as T) : (text as T);
  return { status: response.status, body: parsed, headers: response.headers };
}
