import { fetchEventSource } from '@microsoft/fetch-event-source';
import { useEffect, useRef, useState } from 'react';
import { authHeaders } from '../api';

class StreamRefused extends Error {}

const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** While the stream is down, screens refetch this often instead (never faster than every 2 s). */
export const FALLBACK_REFETCH_MS = 5000;

/**
 * Follows a Server-Sent Events stream of the API, with the key in the Authorization header (EventSource cannot send
 * one). Each event goes to the handler of its type, its data parsed as JSON. It reconnects with an exponential
 * backoff; the answer says whether the stream is up, so that a screen falls back to refetching while it is not.
 */
export function useEventStream(path: string | null, handlers: Record<string, (data: unknown) => void>): boolean {
  const [live, setLive] = useState(false);
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;

  useEffect(() => {
    if (!path) return;
    const controller = new AbortController();
    let backoff = INITIAL_BACKOFF_MS;
    fetchEventSource(path, {
      headers: { Accept: 'text/event-stream', ...authHeaders() },
      signal: controller.signal,
      openWhenHidden: true,
      async onopen(response) {
        const type = response.headers.get('content-type') ?? '';
        if (response.status === 401 || response.status === 403) throw new StreamRefused(`${response.status}`);
        if (!response.ok || !type.includes('text/event-stream')) throw new Error(`The stream answered ${response.status}`);
        backoff = INITIAL_BACKOFF_MS;
        setLive(true);
      },
      onmessage(message) {
        const handler = handlersRef.current[message.event || 'message'];
        if (!handler || !message.data) return;
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        handler(data);
      },
      onclose() {
        // The server ended the stream: reconnect (onerror decides when).
        throw new Error('The stream closed');
      },
      onerror(error) {
        setLive(false);
        if (error instanceof StreamRefused) throw error;
        const wait = backoff;
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        return wait;
      },
    }).catch(() => {
      // Refused (or aborted): the screen keeps refetching on its own.
      setLive(false);
    });
    return () => {
      controller.abort();
      setLive(false);
    };
  }, [path]);

  return live;
}

/** Calls `run` at most once per `intervalMs`: a call within the interval is deferred to its end (once). */
export function useThrottled(run: () => void, intervalMs: number): () => void {
  const runRef = useRef(run);
  runRef.current = run;
  const state = useRef<{ last: number; timer: ReturnType<typeof setTimeout> | null }>({ last: 0, timer: null });
  useEffect(
    () => () => {
      if (state.current.timer) clearTimeout(state.current.timer);
    },
    [],
  );
  const trigger = useRef(() => {
    const s = state.current;
    if (s.timer) return;
    const wait = s.last + intervalMs - Date.now();
    if (wait <= 0) {
      s.last = Date.now();
      runRef.current();
      return;
    }
    s.timer = setTimeout(() => {
      s.timer = null;
      s.last = Date.now();
      runRef.current();
    }, wait);
  });
  return trigger.current;
}
