/**
 * What the browser tests share: Debian's Chromium driven by playwright-core, `volley serve` as a child
 * process, the SDK bundle kept current, and a small driver for the chat demo's page. A `.test` file so that it
 * stays out of the package; it has no tests of its own.
 *
 * Chromium is looked for at `VOLLEY_CHROMIUM` or /usr/bin/chromium (Debian's `chromium` package). Without it
 * the browser tests are skipped with one line saying so, except under `CI=true`, where they fail: CI must
 * install it (`.ci/run`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { within } from '../test-support/util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'volley.js');

/** Where Chromium is expected. */
export const CHROMIUM = process.env['VOLLEY_CHROMIUM'] ?? '/usr/bin/chromium';
/** Screenshots and other artifacts of the browser tests (gitignored). */
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'browser');

/**
 * Flags for Chromium as root on a machine without outside network: no sandbox, no GPU, and none of the
 * background requests to Google's hosts that such a machine refuses. playwright-core adds `--headless` and
 * a fresh temporary `--user-data-dir` for each launch.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The `skip` option of the browser tests: a one-line reason when Chromium is missing, else false. Under
 * `CI=true` a missing Chromium is not a reason to skip: the caller's `before` then fails (see
 * {@link requireChromium}).
 */
export function skipWithoutChromium(): string | false {
  const missing = missingTools();
  if (missing === null || process.env['CI'] === 'true') return false;
  return missing;
}

/** Throws when Chromium or playwright-core is missing (under CI=true the tests must run). */
export function requireChromium(): void {
  const missing = missingTools();
  if (missing !== null) throw new Error(`the browser tests cannot run: ${missing}`);
}

/** What the browser tests lack, in one line, or null. */
function missingTools(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set VOLLEY_CHROMIUM)`;
  try {
    import.meta.resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm install)';
  }
  return null;
}

/** Launches headless Chromium. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** The newest modification time of the files in `dir` ending with `.js`, recursively. */
function newestJs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestJs(path));
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure dist/browser/volley-client.js exists and is newer than the compiled SDK it is made from, running
 * scripts/build-browser.mjs when not. Returns whether it rebuilt.
 */
export async function ensureBundle(): Promise<boolean> {
  const bundle = join(ROOT, 'dist', 'browser', 'volley-client.js');
  const source = Math.max(newestJs(join(ROOT, 'dist', 'sdk')), statSync(join(ROOT, 'dist', 'hub', 'wire.js')).mtimeMs);
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= source) return false;
  await within(promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build-browser.mjs')], { cwd: ROOT }), 60_000, 'the SDK bundle to build');
  return true;
}

/** The environment without any VOLLEY_ setting of the machine running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('VOLLEY_')) env[name] = value;
  return env;
}

/** A `volley serve` child process. */
export interface Served {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** What it printed on stderr so far (for failure messages). */
  stderr(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * Runs `volley serve --port 0 --host 127.0.0.1 --log-level warn ARGS` in a fresh directory, with `config`
 * as its volley.config.json when given, and waits for its listening line.
 */
export async function serve(args: readonly string[], config?: Record<string, unknown>): Promise<Served> {
  const cwd = await mkdtemp(join(tmpdir(), 'volley-browser-'));
  if (config !== undefined) writeFileSync(join(cwd, 'volley.config.json'), JSON.stringify(config));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...args], {
    cwd,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(cwd, { recursive: true, force: true });
  };
  try {
    const url = await within(
      new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const match = /^volley serve listening on (http:\/\/\S+) /m.exec(out);
          if (match) resolve(match[1]!);
        };
        child.stdout!.on('data', check);
        void exited.then((code) => reject(new Error(`volley serve exited with ${code} before listening: ${err}`)));
      }),
      15_000,
      'volley serve to listen',
    );
    return { url, stderr: () => err, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A message as the page shows it. */
export interface ShownMessage {
  readonly offset: number;
  readonly nick: string;
  readonly text: string;
}

/** Options of {@link openChat}. */
export interface ChatOptions {
  readonly nick: string;
  readonly room: string;
  /** Refuse the page's WebSocket (it opens and is closed at once, as by a proxy that kills WebSockets). */
  readonly blockWebSocket?: boolean;
  /** Make the page's SSE requests fail. */
  readonly blockSse?: boolean;
}

/** The chat demo in one page of its own browser context (so that it can go offline alone). */
export class ChatPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Errors thrown in the page. */
  readonly errors: string[] = [];

  private constructor(context: BrowserContext, page: Page) {
    this.context = context;
    this.page = page;
    page.on('pageerror', (error) => this.errors.push(error.message));
  }

  /** Opens /demo/chat as `nick` in `room` and waits until the page is connected. */
  static async open(browser: Browser, base: string, options: ChatOptions): Promise<ChatPage> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    const chat = new ChatPage(context, page);
    if (options.blockWebSocket === true) await page.routeWebSocket('**/ws', (ws) => ws.close());
    if (options.blockSse === true) await page.route('**/sse**', (route) => route.abort());
    await page.goto(`${base}/demo/chat?nick=${encodeURIComponent(options.nick)}&room=${encodeURIComponent(options.room)}`);
    await chat.waitForState('connected');
    return chat;
  }

  /** Waits until the badge shows `state` (connecting, connected, reconnecting, disconnected). */
  async waitForState(state: string): Promise<void> {
    await this.page.locator(`#connection[data-state="${state}"]`).waitFor();
  }

  /** The transport the page says it uses ('' while not connected). */
  transport(): Promise<string | null> {
    return this.page.locator('#connection').getAttribute('data-transport');
  }

  /** Types `text` into the composer and sends it. */
  async send(text: string): Promise<void> {
    await this.page.locator('#text').fill(text);
    await this.page.locator('#text').press('Enter');
  }

  /** Sends `text` and waits until the hub's copy replaced the pending entry. */
  async sendAndWait(text: string): Promise<void> {
    const before = await this.page.locator('#messages .msg[data-offset]').count();
    await this.send(text);
    await this.waitForMessageCount(before + 1);
  }

  /** Waits until at least `n` publications are shown. */
  async waitForMessageCount(n: number, timeout = 15_000): Promise<void> {
    // Locators, not waitForFunction: the page's CSP forbids evaluating strings.
    await this.page.locator('#messages .msg[data-offset]').nth(n - 1).waitFor({ timeout });
  }

  /** Waits until a publication with exactly `text` is shown. */
  async waitForText(text: string): Promise<void> {
    await this.page.locator('#messages .msg[data-offset] .text', { hasText: text }).first().waitFor();
  }

  /** The publications shown, top to bottom. */
  async messages(): Promise<ShownMessage[]> {
    const rows = await this.page.locator('#messages .msg[data-offset]').evaluateAll((nodes) =>
      nodes.map((node) => [node.getAttribute('data-offset'), node.querySelector('.nick')?.textContent, node.querySelector('.text')?.textContent]),
    );
    return rows.map(([offset, nick, text]) => ({ offset: Number(offset), nick: nick ?? '', text: text ?? '' }));
  }

  /** Saves a screenshot under {@link ARTIFACTS}; returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, `${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
  }
}
