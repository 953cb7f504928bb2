export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Reads a text/event-stream response with fetch, as the console's client does, collecting its
 * events (`raw`: every block, comments and `retry:` included) until `close`.
 */
export const openEventStream = async (url: string, headers: Record<string, string> = {}) => {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: ServerSentEvent[] = [];
  const raw: string[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          raw.push(block);
          const lines = block.split('\n');
          const event = lines.find((line) => line.startsWith('event: '))?.slice(7);
          const data = lines.find((line) => line.startsWith('data: '))?.slice(6);
          if (event !== undefined && data !== undefined) events.push({ event, data });
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  })();
  return {
    response,
    events,
    raw,
    of: <T>(name: string): T[] => events.filter((event) => event.event === name).map((event) => JSON.parse(event.data) as T),
    close: async () => {
      abort.abort();
      await reading;
    },
    ended: reading,
  };
};
