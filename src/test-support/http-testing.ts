/**
 * A small HTTP client for tests: one request on a fresh connection (no keep-alive), bounded in time, with the
 * body read whole and parsed as JSON when it is JSON.
 *
 * @example
 * ```ts
 * const answer = await httpRequest(`${url}/poll/open`, { method: 'POST' });
 * assert.equal(answer.status, 200);
 * const sid = answer.json.sid;
 * ```
 *
 * @module
 */

import { request, type IncomingHttpHeaders } from 'node:http';
import { within } from './util.js';

/** An HTTP response, body read whole. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: any;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /**
   * A string or bytes (sent as they are), or any other value (sent as JSON, with `Content-Type:
   * application/json` unless the headers name one); always with Content-Length.
   */
  readonly body?: unknown;
  /** @default 5000 */
  readonly timeoutMs?: number;
}

/** One HTTP request on a fresh connection; rejects when it fails or takes longer than `timeoutMs`. */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const method = options.method ?? 'GET';
  return within(
    new Promise<HttpAnswer>((resolve, reject) => {
      const req = request(url, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    }),
    options.timeoutMs ?? 5000,
    `${method} ${url}`,
  );
}
