import { Agent as HttpAgent, request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { OUTBOUND_DENIED, type OutboundRules } from '@flotilla/platform';

/** What came of one POST: a status code when a response arrived, an error when it was not a 2xx. */
export interface PostOutcome {
  readonly statusCode?: number;
  readonly error?: string;
  readonly durationMs: number;
}

export const isSuccess = (outcome: PostOutcome): boolean =>
  outcome.statusCode !== undefined && outcome.statusCode >= 200 && outcome.statusCode < 300;

/**
 * POSTs webhook deliveries over node:http(s) agents whose `lookup` applies the outbound rules to
 * the address each connection really uses (a webhook host that rebinds to a denied address is
 * refused before a byte is sent), the same checked path as the calls of workflow targets.
 */
export class WebhookPoster {
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;

  constructor(private readonly outbound: OutboundRules) {
    this.httpAgent = new HttpAgent({ keepAlive: true, lookup: outbound.lookup });
    this.httpsAgent = new HttpsAgent({ keepAlive: true, lookup: outbound.lookup });
  }

  /**
   * POSTs `body` and reports what happened; never throws for a failed request (a refused
   * connection, a timeout, a non-2xx answer, a denied address are all outcomes to record). `abort`
   * cuts the request short from outside; the caller checks it to tell that apart from a timeout.
   * A redirect is not followed: a signed event goes only to the URL that was registered.
   */
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, abort: AbortSignal): Promise<PostOutcome> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    return new Promise<PostOutcome>((resolve) => {
      // An IP literal is connected to without a lookup, so the rules are applied to it here.
      const refusal = this.outbound.hostRefusal(url);
      if (refusal !== null) {
        resolve({ error: `outbound call refused: ${refusal} (${OUTBOUND_DENIED})`, durationMs: elapsed() });
        return;
      }
      let settled = false;
      const settle = (outcome: Omit<PostOutcome, 'durationMs'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        abort.removeEventListener('abort', onAbort);
        resolve({ ...outcome, durationMs: elapsed() });
      };
      const secure = url.startsWith('https:');
      const options = {
        method: 'POST',
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
      };
      let req: ClientRequest;
      try {
        req = secure ? httpsRequest(url, options) : httpRequest(url, options);
      } catch (error) {
        settle({ error: describe(error) });
        return;
      }
      const onAbort = (): void => {
        settle({ error: 'aborted' });
        req.destroy();
      };
      const timer = setTimeout(() => {
        settle({ error: `timed out after ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      if (abort.aborted) onAbort();
      else abort.addEventListener('abort', onAbort, { once: true });
      req.on('error', (error) => settle({ error: describe(error) }));
      req.on('response', (res) => {
        const statusCode = res.statusCode ?? 0;
        // The answer's body means nothing to us; reading it to the end frees the connection.
        res.resume();
        res.on('error', () => undefined);
        settle(statusCode >= 200 && statusCode < 300 ? { statusCode } : { statusCode, error: `HTTP ${statusCode}` });
      });
      req.end(body);
    });
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * The message, with the code when Node gives one (`connect ECONNREFUSED 127.0.0.1:9`). Duck-typed:
 * under jest, Node's errors are not this realm's `Error`.
 */
const describe = (error: unknown): string => {
  const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
  return code === undefined || message.includes(code) ? message : `${message} (${code})`;
};
