/**
 * The HTTP API for backends, mounted under `/api/` (docs/openapi.json): publish, broadcast, history, presence,
 * channel list and disconnect, authenticated by `Authorization: apikey KEY`, JSON in and out.
 *
 * - No key configured: the API is off and every `/api/…` URL answers 404.
 * - A missing or wrong key: 401 (checked before the route, so routes cannot be probed without the key).
 * - Unknown route: 404; known route, other method: 405 with `Allow`.
 * - Bodies are limited while they stream (413) and validated field by field (400 naming the field).
 * - Errors have one shape: `{ "error": { "code": "bad_request", "message": "\"channel\" is required" } }`;
 *   hub error codes keep their name and map to a status (bad_request 400, permission_denied 403,
 *   not_found 404, unavailable 503, internal 500, …). Internal details never reach the response.
 *
 * @example
 * ```ts
 * const api = createApiHandler({ hub, apiKey: process.env.VOLLEY_API_KEY });
 * http.createServer((req, res) => {
 *   if (!api(req, res)) { res.statusCode = 404; res.end(); }
 * });
 * ```
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { EngineError, EngineErrorCode } from '../engines/errors.js';
import { HubError } from '../hub/errors.js';
import type { Hub } from '../hub/hub.js';
import { HubErrorCode } from '../hub/wire.js';
import { ApiKeyCheck } from './api-key.js';
import {
  parseBroadcast,
  parseDisconnect,
  parseHistoryQuery,
  parseNoQuery,
  parsePresenceQuery,
  parsePublish,
  type InputLimits,
} from './api-input.js';
import { BodyAbortedError, readJsonBody } from './body.js';
import { ApiError, ApiErrorCode, sendError, sendJson, statusOf } from './respond.js';

/** A `node:http` request handler that answers only the URLs it owns and returns whether it did. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Options of {@link createApiHandler}. */
export interface ApiOptions {
  /** The hub the API drives. */
  readonly hub: Hub;
  /** The key requests must carry. Absent or empty: the API is disabled (every `/api/` URL is a 404). */
  readonly apiKey?: string | undefined;
  /**
   * Largest request body, in bytes.
   * @default 1048576 (1 MiB)
   */
  readonly maxBodyBytes?: number;
  /**
   * Most channels in one `/api/broadcast`.
   * @default 1000
   */
  readonly maxBroadcastChannels?: number;
  /** Called once per answered request with the route (`/api/publish`, or `other`) and the status. */
  readonly onResponse?: (route: string, status: number) => void;
}

/** Default of {@link ApiOptions.maxBodyBytes}. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Default of {@link ApiOptions.maxBroadcastChannels}. */
export const DEFAULT_MAX_BROADCAST_CHANNELS = 1000;

/** What a route handler gets. */
interface Call {
  readonly req: IncomingMessage;
  readonly query: URLSearchParams;
}

type Method = 'GET' | 'POST';
type Route = Partial<Record<Method, (call: Call) => Promise<unknown>>>;

/**
 * Creates the `/api/` handler. Throws `TypeError` for a bad option.
 */
export function createApiHandler(options: ApiOptions): HttpHandler {
  const { hub, onResponse } = options;
  const maxBodyBytes = positiveInteger(options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes');
  const limits: InputLimits = {
    maxChannelLength: hub.commandLimits.maxChannelLength,
    maxHistoryLimit: hub.commandLimits.maxHistoryLimit,
    maxBroadcastChannels: positiveInteger(options.maxBroadcastChannels ?? DEFAULT_MAX_BROADCAST_CHANNELS, 'maxBroadcastChannels'),
  };
  const check = options.apiKey === undefined || options.apiKey === '' ? null : new ApiKeyCheck(options.apiKey);
  const bodyOptions = { maxBytes: maxBodyBytes, maxDepth: hub.commandLimits.maxDepth };
  /** The JSON body of a POST route (which takes no query parameters). */
  const body = (call: Call): Promise<unknown> => {
    parseNoQuery(call.query);
    return readJsonBody(call.req, bodyOptions);
  };

  const routes = new Map<string, Route>([
    [
      '/api/publish',
      {
        POST: async (call) => {
          const request = parsePublish(await body(call), limits);
          const { epoch, offset } = await hub.publish(request.channel, request.data, { idempotencyKey: request.idempotencyKey });
          return { epoch, offset };
        },
      },
    ],
    [
      '/api/broadcast',
      {
        POST: async (call) => {
          const request = parseBroadcast(await body(call), limits);
          const results = await hub.broadcast(
            request.channels,
            request.data,
            request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey },
          );
          return { results };
        },
      },
    ],
    [
      '/api/history',
      {
        GET: async (call) => {
          const request = parseHistoryQuery(call.query, limits);
          const ns = namespaceOf(hub, request.channel);
          if (ns.historySize === 0) throw new HubError(HubErrorCode.UNAVAILABLE, 'history is off in this namespace');
          const page = await hub.history(request.channel, {
            ...(request.since !== undefined ? { since: request.since } : {}),
            limit: request.limit,
            reverse: request.reverse,
          });
          return {
            epoch: page.epoch,
            offset: page.offset,
            publications: page.publications.map((p) =>
              p.info === undefined ? { offset: p.offset, data: p.data, time: p.time } : { offset: p.offset, data: p.data, info: p.info, time: p.time },
            ),
          };
        },
      },
    ],
    [
      '/api/presence',
      {
        GET: async (call) => {
          const request = parsePresenceQuery(call.query, limits);
          const ns = namespaceOf(hub, request.channel);
          if (!ns.presence) throw new HubError(HubErrorCode.UNAVAILABLE, 'presence is off in this namespace');
          const stats = await hub.presenceStore.stats(request.channel);
          if (request.countsOnly || ns.countsOnly) return { clients: stats.clients, users: stats.users };
          return { clients: stats.clients, users: stats.users, members: await hub.presence(request.channel) };
        },
      },
    ],
    [
      '/api/channels',
      {
        GET: async (call) => {
          parseNoQuery(call.query);
          const channels = hub.channelList().sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
          return { channels };
        },
      },
    ],
    [
      '/api/disconnect',
      {
        POST: async (call) => {
          const request = parseDisconnect(await body(call));
          const target = {
            ...(request.clientId !== undefined ? { clientId: request.clientId } : {}),
            ...(request.userId !== undefined ? { userId: request.userId } : {}),
          };
          const disconnected = hub.disconnect(target, {
            ...(request.reason !== undefined ? { reason: request.reason } : {}),
            ...(request.reconnect !== undefined ? { reconnect: request.reconnect } : {}),
          });
          return { disconnected };
        },
      },
    ],
  ]);

  const answer = (res: ServerResponse, route: string, status: number, payload: unknown): void => {
    sendJson(res, status, payload);
    onResponse?.(route, status);
  };
  const fail = (res: ServerResponse, route: string, error: ApiError): void => {
    sendError(res, error);
    onResponse?.(route, error.status);
  };

  return (req, res) => {
    const url = parseUrl(req.url);
    if (url === null || (url.pathname !== '/api' && !url.pathname.startsWith('/api/'))) return false;
    const path = url.pathname;
    const known = routes.get(path);
    const label = known === undefined ? 'other' : path;
    if (check === null) {
      fail(res, label, new ApiError(ApiErrorCode.NOT_FOUND, 'the HTTP API is disabled: configure an API key to enable it'));
      return true;
    }
    if (!check.matches(req.headers.authorization)) {
      const error = new ApiError(ApiErrorCode.UNAUTHORIZED, 'a valid API key is required: Authorization: apikey KEY', {
        'www-authenticate': 'apikey',
      });
      fail(res, label, error);
      return true;
    }
    if (known === undefined) {
      fail(res, label, new ApiError(ApiErrorCode.NOT_FOUND, `no route ${path.length > 64 ? `${path.slice(0, 64)}…` : path}`));
      return true;
    }
    const handler = Object.hasOwn(known, req.method ?? '') ? known[req.method as Method] : undefined;
    if (handler === undefined) {
      const allow = Object.keys(known).join(', ');
      fail(res, label, new ApiError(ApiErrorCode.METHOD_NOT_ALLOWED, `${path} accepts ${allow}`, { allow }));
      return true;
    }
    handler({ req, query: url.searchParams }).then(
      (result) => answer(res, label, 200, result),
      (error: unknown) => {
        if (error instanceof BodyAbortedError) return;
        const apiError = toApiError(error);
        if (apiError.code === ApiErrorCode.INTERNAL) hub.logger.error({ err: error, route: path }, 'HTTP API request failed');
        fail(res, label, apiError);
      },
    );
    return true;
  };
}

/** The namespace settings of `channel`, or a 404 when its namespace is unknown (strict namespaces). */
function namespaceOf(hub: Hub, channel: string) {
  const ns = hub.namespaces.lookup(channel);
  if (ns === null) throw new HubError(HubErrorCode.NOT_FOUND, 'unknown namespace');
  return ns;
}

/** What the client may learn from an error: its code and message, or a bare `internal` for anything unknown. */
function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HubError) {
    const code = statusOf(error.code) === 500 ? ApiErrorCode.INTERNAL : error.code;
    return new ApiError(code, code === ApiErrorCode.INTERNAL ? 'internal error' : error.message);
  }
  if (error instanceof EngineError) {
    if (error.code === EngineErrorCode.INVALID_ARGUMENT || error.code === EngineErrorCode.NOT_JSON) {
      return new ApiError(ApiErrorCode.BAD_REQUEST, error.message);
    }
    if (error.code === EngineErrorCode.INVALID_STATE) return new ApiError(ApiErrorCode.UNAVAILABLE, 'the server is shutting down');
  }
  return new ApiError(ApiErrorCode.INTERNAL, 'internal error');
}

/** The request target as a URL, or null when it is not an origin-form path. */
function parseUrl(target: string | undefined): URL | null {
  if (target === undefined || !target.startsWith('/')) return null;
  try {
    return new URL(target, 'http://localhost');
  } catch {
    return null;
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`);
  return value;
}
