/**
 * The browser entry of the SDK, bundled by scripts/build-browser.mjs into `dist/browser/volley-client.js`
 * (an ES module, served by `volley serve` at `/volley-client.js`). The same API as `volley/client`; the
 * platform's `WebSocket`, `fetch` and `EventSource` are used by default.
 *
 * @example
 * ```html
 * <script type="module">
 *   import { Volley } from '/volley-client.js';
 *   const client = new Volley(location.origin);
 *   client.connect();
 * </script>
 * ```
 *
 * @module
 */

export * from './index.js';
