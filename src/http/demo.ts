/**
 * The browser side of `volley serve`: the SDK's browser bundle and the chat demo built on it.
 *
 * - `GET /volley-client.js` and `/volley-client.js.map`: the ES module bundle of the client SDK
 *   (dist/browser/, written by scripts/build-browser.mjs). Applications import it from this stable path.
 * - `GET /demo/chat`: the chat demo's page (src/console/chat/index.html); `GET /demo/chat/NAME.js|.css`: its
 *   scripts and styles; `/demo` redirects to `/demo/chat`.
 *
 * Files are read at each request, so a bundle rebuilt while the server runs is served at once. A file that
 * is missing answers 404 with what to run: the bundle is a build product that `tsc` alone does not make.
 * Only `GET` and `HEAD` are allowed (405 otherwise); names are matched exactly, never joined into paths
 * from the URL. The page's Content-Security-Policy lets it load scripts and styles from this origin and
 * connect back to it (WebSocket, SSE, long-polling), nothing else.
 *
 * @example
 * ```ts
 * const demo = createDemoHandler();
 * http.createServer((req, res) => demo(req, res) || notFound(res));
 * ```
 *
 * @module
 */

import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from './api.js';

/** Options of {@link createDemoHandler}. */
export interface DemoOptions {
  /**
   * Folder holding `volley-client.js` and its source map.
   * @default the package's dist/browser/ ({@link PACKAGE_BUNDLE_DIR})
   */
  readonly bundleDir?: URL;
  /**
   * Folder of the chat demo's page, scripts and styles.
   * @default the package's src/console/chat/ ({@link PACKAGE_CHAT_DIR})
   */
  readonly chatDir?: URL;
}

/** Where scripts/build-browser.mjs writes the bundle (dist/http/demo.js → ../browser/). */
export const PACKAGE_BUNDLE_DIR = new URL('../browser/', import.meta.url);
/** The chat demo's files in the package (dist/http/demo.js → ../../src/console/chat/). */
export const PACKAGE_CHAT_DIR = new URL('../../src/console/chat/', import.meta.url);

/** The bundle's URL path. */
export const BUNDLE_PATH = '/volley-client.js';
/** The chat demo's URL path. */
export const CHAT_PATH = '/demo/chat';

const BUILD_HINT = 'build it with: npm run build (tsc, then node scripts/build-browser.mjs)';
/** Names of the demo's own assets under /demo/chat/. */
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css)$/;

const TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

/** Headers of every file: revalidated on each load (files change during development), never sniffed. */
const FILE_HEADERS = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' } as const;

/** The page may run scripts and styles from this origin and talk to this hub; nothing else. */
const PAGE_HEADERS = {
  ...FILE_HEADERS,
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
} as const;

/** What a URL path maps to. */
type Target =
  | { readonly kind: 'file'; readonly url: URL; readonly type: string; readonly page: boolean; readonly missing: string }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'not-found'; readonly text: string };

function resolveTarget(path: string, bundleDir: URL, chatDir: URL): Target | null {
  if (path === BUNDLE_PATH || path === `${BUNDLE_PATH}.map`) {
    const name = path.slice(1);
    return {
      kind: 'file',
      url: new URL(name, bundleDir),
      type: TYPES[path.endsWith('.map') ? 'map' : 'js']!,
      page: false,
      missing: `${name} is not built: ${BUILD_HINT}`,
    };
  }
  if (path === '/demo' || path === '/demo/') return { kind: 'redirect', location: CHAT_PATH };
  if (path === CHAT_PATH || path === `${CHAT_PATH}/`) {
    return { kind: 'file', url: new URL('index.html', chatDir), type: TYPES['html']!, page: true, missing: 'the chat demo is not installed (src/console/chat/)' };
  }
  if (!path.startsWith(`${CHAT_PATH}/`)) return null;
  const name = path.slice(CHAT_PATH.length + 1);
  if (!ASSET_NAME.test(name)) return { kind: 'not-found', text: `${name} is not part of the chat demo` };
  return { kind: 'file', url: new URL(name, chatDir), type: TYPES[name.slice(name.lastIndexOf('.') + 1)]!, page: false, missing: `${name} is not part of the chat demo` };
}

function sendText(res: ServerResponse, status: number, text: string, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...FILE_HEADERS, ...headers });
  res.end(body);
}

/** Serves `/volley-client.js(.map)`, `/demo` and `/demo/chat[/NAME]`; returns false for every other URL. */
export function createDemoHandler(options: DemoOptions = {}): HttpHandler {
  const bundleDir = options.bundleDir ?? PACKAGE_BUNDLE_DIR;
  const chatDir = options.chatDir ?? PACKAGE_CHAT_DIR;
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const target = resolveTarget(path, bundleDir, chatDir);
    if (target === null) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return true;
    }
    if (target.kind === 'not-found') {
      sendText(res, 404, target.text);
      return true;
    }
    if (target.kind === 'redirect') {
      res.writeHead(302, { location: target.location, 'content-length': '0', ...FILE_HEADERS });
      res.end();
      return true;
    }
    readFile(target.url).then(
      (body) => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, { 'content-type': target.type, 'content-length': String(body.byteLength), ...(target.page ? PAGE_HEADERS : FILE_HEADERS) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => sendText(res, 404, target.missing),
    );
    return true;
  };
}
