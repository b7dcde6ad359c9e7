/**
 * The small HTTP surface besides the API: `GET /` (a page saying the hub runs, with links to the docs and
 * the chat demo),
 * `GET /healthz` (`{"status":"ok"}`, or 503 `{"status":"draining"}` while the node shuts down) and
 * `GET /docs/NAME` (the Markdown and JSON files of the package's `docs/` folder, read-only, by exact name).
 *
 * @module
 */

import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from './api.js';
import { sendJson } from './respond.js';

/** What the status page and health check read from the running server. */
export interface StatusSource {
  /** Package version. */
  readonly version: string;
  /** This node's id (in logs too). */
  readonly nodeId: string;
  /** Open client connections. */
  connections(): number;
  /** True once shutdown started: `/healthz` then answers 503. */
  draining(): boolean;
  /** Path of the WebSocket endpoint, for the page. */
  readonly websocketPath: string;
  /** Whether the HTTP API is enabled, for the page. */
  readonly apiEnabled: boolean;
}

/** Options of {@link createStaticHandler}. */
export interface StaticOptions {
  readonly status: StatusSource;
  /**
   * Folder whose `*.md` and `*.json` files are served under `/docs/`; null serves none.
   * @default the package's docs/ folder
   */
  readonly docsDir?: URL | null;
}

/** The docs folder of the installed package (dist/http/static.js → ../../docs/). */
export const PACKAGE_DOCS_DIR = new URL('../../docs/', import.meta.url);

const DOC_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*\.(md|json)$/;

/** One-line descriptions of the docs the page lists first; others follow in name order. */
const DOC_TITLES: Readonly<Record<string, string>> = {
  'operations.md': 'running volley serve: configuration, logs, metrics, shutdown, security checklist',
  'openapi.json': 'the HTTP API for backends (OpenAPI 3.1)',
  'hub.md': 'the realtime hub: channels, history, recovery, presence',
  'protocol.md': 'the client ↔ hub wire protocol',
  'api.md': 'the WebSocket library API',
  'errors.md': 'error codes',
  'demo.md': 'the chat demo at /demo/chat and the browser tests',
};

/** The docs found in `dir`, by name (content read once, at start). */
function loadDocs(dir: URL | null): Map<string, { type: string; body: Buffer }> {
  const docs = new Map<string, { type: string; body: Buffer }>();
  if (dir === null) return docs;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return docs;
  }
  for (const name of names.sort()) {
    if (!DOC_NAME.test(name)) continue;
    try {
      const body = readFileSync(new URL(name, dir));
      docs.set(name, { type: name.endsWith('.json') ? 'application/json; charset=utf-8' : 'text/markdown; charset=utf-8', body });
    } catch {
      // Unreadable file: not listed.
    }
  }
  return docs;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Headers of the HTML page: nothing executes, nothing loads from elsewhere, no framing. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** Renders the status page. */
export function renderStatusPage(status: StatusSource, docNames: readonly string[]): string {
  const ordered = [...Object.keys(DOC_TITLES).filter((name) => docNames.includes(name)), ...docNames.filter((name) => !(name in DOC_TITLES))];
  const docs = ordered
    .map((name) => {
      const title = DOC_TITLES[name];
      return `<li><a href="docs/${escapeHtml(name)}">${escapeHtml(name)}</a>${title ? ` — ${escapeHtml(title)}` : ''}</li>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Volley hub</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}dt{font-weight:600}</style>
</head>
<body>
<h1>Volley hub is running</h1>
<dl>
<dt>Version</dt><dd>${escapeHtml(status.version)}</dd>
<dt>Node id</dt><dd><code>${escapeHtml(status.nodeId)}</code></dd>
<dt>Connections</dt><dd>${status.connections()}</dd>
<dt>WebSocket endpoint</dt><dd><code>${escapeHtml(status.websocketPath)}</code> (subprotocols <code>volley.v1.json</code>, <code>volley.v1.msgpack</code>)</dd>
<dt>HTTP API</dt><dd>${status.apiEnabled ? '<code>/api/</code> (Authorization: apikey KEY)' : 'disabled (no API key configured)'}</dd>
<dt>Health</dt><dd><a href="healthz"><code>/healthz</code></a> · Metrics: <a href="metrics"><code>/metrics</code></a></dd>
<dt>Browser</dt><dd><a href="demo/chat">Chat demo</a> · SDK bundle <code>/volley-client.js</code> (docs/demo.md)</dd>
</dl>
<h2>Documentation</h2>
${docs === '' ? '<p>The docs/ folder of the volley package.</p>' : `<ul>\n${docs}\n</ul>`}
</body>
</html>
`;
}

/** Serves `/`, `/healthz` and `/docs/NAME`; returns false for every other URL. */
export function createStaticHandler(options: StaticOptions): HttpHandler {
  const { status } = options;
  const docs = loadDocs(options.docsDir === undefined ? PACKAGE_DOCS_DIR : options.docsDir);
  const docNames = [...docs.keys()];
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const doc = path.startsWith('/docs/') ? path.slice('/docs/'.length) : undefined;
    if (path !== '/' && path !== '/healthz' && doc === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    if (path === '/healthz') {
      if (status.draining()) sendJson(res, 503, { status: 'draining' });
      else sendJson(res, 200, { status: 'ok' });
      return true;
    }
    if (doc !== undefined) {
      const found = docs.get(doc);
      if (found === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
      } else {
        res.writeHead(200, { 'content-type': found.type, 'content-length': String(found.body.byteLength), 'x-content-type-options': 'nosniff' });
        res.end(found.body);
      }
      return true;
    }
    const page = renderStatusPage(status, docNames);
    res.writeHead(200, { ...PAGE_HEADERS, 'content-length': String(Buffer.byteLength(page)) });
    res.end(page);
    return true;
  };
}
