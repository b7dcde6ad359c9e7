/**
 * From the hub URL a user gives to the endpoints of each transport: `http(s)://host:port[/prefix]` maps to
 * `ws(s)://host:port[/prefix]/ws`, `…/sse` and `…/poll`. A `ws(s)://…/ws` URL is accepted too.
 *
 * @module
 */

import { invalidArgument } from './errors.js';

/** The endpoints of one hub. */
export interface Endpoints {
  /** `http(s)://host:port[/prefix]`, without a trailing slash. */
  readonly base: string;
  /** `ws(s)://host:port[/prefix]/ws` */
  readonly websocket: string;
  /** `…/sse` */
  readonly sse: string;
  /** `…/poll` */
  readonly poll: string;
}

/**
 * Derives the endpoints from `url`.
 *
 * @throws VolleyError `VOLLEY_ERR_INVALID_ARGUMENT` for a URL that does not parse or has another scheme.
 * @example
 * ```ts
 * endpoints('https://rt.example.com').websocket; // 'wss://rt.example.com/ws'
 * endpoints('http://localhost:8080/hub').poll;   // 'http://localhost:8080/hub/poll'
 * ```
 */
export function endpoints(url: string | URL): Endpoints {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw invalidArgument(`url must be an absolute http(s) or ws(s) URL, got ${JSON.stringify(String(url))}`);
  }
  const scheme = parsed.protocol;
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(scheme)) {
    throw invalidArgument(`url must use http, https, ws or wss, got ${scheme}`);
  }
  if (parsed.search !== '' || parsed.hash !== '') throw invalidArgument('url must not have a query or a fragment');
  const secure = scheme === 'https:' || scheme === 'wss:';
  let path = parsed.pathname.replace(/\/+$/, '');
  if ((scheme === 'ws:' || scheme === 'wss:') && path.endsWith('/ws')) path = path.slice(0, -3);
  const host = parsed.host;
  const base = `${secure ? 'https' : 'http'}://${host}${path}`;
  return { base, websocket: `${secure ? 'wss' : 'ws'}://${host}${path}/ws`, sse: `${base}/sse`, poll: `${base}/poll` };
}
