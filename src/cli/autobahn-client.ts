/**
 * Drives the Autobahn|Testsuite `fuzzingserver` with Volley's client: asks for the number of cases, runs each
 * one by echoing every message back (text as text, binary as binary), then asks the server to write its
 * reports. The verdicts are in the fuzzingserver's report, not in this program's exit code.
 *
 * ```sh
 * node dist/cli/autobahn-client.js --url ws://127.0.0.1:9001 --agent volley
 * ```
 *
 * Exit code: 0 once every case ran and the reports were updated, 1 when the fuzzingserver could not be reached,
 * 2 for a usage error.
 *
 * @module
 */

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { WebSocket, type ClientOptions } from '../socket/index.js';
import { UsageError, defineCommand, type CliIo, type CommandSpec } from './command.js';

/** Options of {@link runAutobahnClient}. */
export interface AutobahnClientOptions {
  /**
   * The fuzzingserver's base URL.
   * @default 'ws://127.0.0.1:9001'
   */
  url?: string;
  /**
   * Agent name under which the report lists the results.
   * @default 'volley'
   */
  agent?: string;
  /**
   * Offer permessage-deflate (sections 12 and 13 test it).
   * @default true
   */
  perMessageDeflate?: boolean;
  /**
   * Longest a single case may take before its connection is dropped and the next case starts, in ms. The
   * fuzzingserver is Python: on a loaded machine cases 12.1.15 or 13.1.10 take over 60 s with any client.
   * @default 300000
   */
  caseTimeout?: number;
  /**
   * Cases between two progress lines.
   * @default 50
   */
  progressEvery?: number;
  /** Receives progress lines. @default nothing is logged */
  log?: (line: string) => void;
}

/** What a run did (from the client's side; the report has the verdicts). */
export interface AutobahnClientSummary {
  /** Number of cases the server announced (and that were run). */
  cases: number;
  /** Case numbers whose connection had to be dropped after `caseTimeout`. */
  timedOut: number[];
  /** Wall-clock duration, in ms. */
  durationMs: number;
}

/** Default fuzzingserver URL. */
export const DEFAULT_FUZZINGSERVER_URL = 'ws://127.0.0.1:9001';
/** Default agent name. */
export const DEFAULT_AGENT = 'volley';
/** Default cap per case. */
export const DEFAULT_CASE_TIMEOUT = 300_000;
/** Section 9 sends messages of up to 16 MiB; leave room. */
const MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** How long the two bookkeeping connections (case count, report update) may take. */
const CONTROL_TIMEOUT = 30_000;

/**
 * Runs every case of the fuzzingserver at `url`. Rejects only when the case count cannot be obtained; a case
 * that fails or hangs is recorded and the run goes on.
 *
 * @example
 * ```ts
 * const summary = await runAutobahnClient({ agent: 'volley', log: console.log });
 * ```
 */
export async function runAutobahnClient(options: AutobahnClientOptions = {}): Promise<AutobahnClientSummary> {
  const base = (options.url ?? DEFAULT_FUZZINGSERVER_URL).replace(/\/+$/, '');
  const agent = encodeURIComponent(options.agent ?? DEFAULT_AGENT);
  const caseTimeout = options.caseTimeout ?? DEFAULT_CASE_TIMEOUT;
  const every = options.progressEvery ?? 50;
  const log = options.log ?? (() => {});
  const clientOptions: ClientOptions = {
    perMessageDeflate: options.perMessageDeflate ?? true,
    maxMessageSize: MAX_MESSAGE_SIZE,
    maxBufferedAmount: 2 * MAX_MESSAGE_SIZE,
  };
  const started = performance.now();

  const count = await session(`${base}/getCaseCount`, clientOptions, CONTROL_TIMEOUT, 'first');
  if (count.error !== null && count.firstMessage === null) {
    throw new Error(`cannot get the case count from ${base}: ${count.error.message}`);
  }
  const cases = Number(count.firstMessage);
  if (!Number.isSafeInteger(cases) || cases < 0) throw new Error(`unexpected case count from ${base}: ${String(count.firstMessage)}`);
  log(`autobahn: ${cases} cases, agent "${options.agent ?? DEFAULT_AGENT}"`);

  const timedOut: number[] = [];
  for (let i = 1; i <= cases; i++) {
    const result = await session(`${base}/runCase?case=${i}&agent=${agent}`, clientOptions, caseTimeout, 'echo');
    if (result.timedOut) {
      timedOut.push(i);
      log(`autobahn: case ${i} timed out after ${caseTimeout} ms`);
    }
    if (i % every === 0 || i === cases) log(`autobahn: ${i}/${cases} cases`);
  }

  const update = await session(`${base}/updateReports?agent=${agent}`, clientOptions, CONTROL_TIMEOUT, 'none');
  if (update.error !== null) log(`autobahn: updating the reports failed: ${update.error.message}`);
  const durationMs = performance.now() - started;
  log(`autobahn: done in ${(durationMs / 1000).toFixed(1)} s${timedOut.length > 0 ? `, ${timedOut.length} timed out` : ''}`);
  return { cases, timedOut, durationMs };
}

interface SessionResult {
  firstMessage: string | null;
  error: Error | null;
  timedOut: boolean;
}

/**
 * One connection, resolved when it closes (never rejects). `echo` sends every message back; `first` keeps
 * the first text message; `none` only waits for the close.
 */
function session(url: string, options: ClientOptions, timeoutMs: number, mode: 'echo' | 'first' | 'none'): Promise<SessionResult> {
  return new Promise((resolve) => {
    const result: SessionResult = { firstMessage: null, error: null, timedOut: false };
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, options);
    } catch (error) {
      result.error = error instanceof Error ? error : new Error(String(error));
      resolve(result);
      return;
    }
    const timer = setTimeout(() => {
      result.timedOut = true;
      ws.terminate();
    }, timeoutMs);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (mode === 'echo') ws.send(data, { binary: isBinary });
      else if (mode === 'first' && result.firstMessage === null) result.firstMessage = data.toString('utf8');
    });
    ws.on('error', (error: Error) => {
      result.error ??= error;
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(result);
    });
  });
}

const spec: CommandSpec = {
  name: 'autobahn-client',
  summary: "Run every case of an Autobahn|Testsuite fuzzingserver against Volley's client (echoing messages).",
  synopsis: '[options]',
  options: {
    url: { type: 'string', value: 'URL', default: DEFAULT_FUZZINGSERVER_URL, description: 'The fuzzingserver' },
    agent: { type: 'string', value: 'NAME', default: DEFAULT_AGENT, description: 'Agent name in the report' },
    'no-deflate': { type: 'boolean', description: 'Do not offer permessage-deflate (offered by default)' },
    'case-timeout': { type: 'string', value: 'MS', default: String(DEFAULT_CASE_TIMEOUT), description: 'Drop a case that takes longer' },
  },
  notes: 'Prints progress every 50 cases. The results are in the fuzzingserver report (reports/clients/index.html).',
};

/** The command-line face of {@link runAutobahnClient}. */
export const autobahnClientCommand = defineCommand(spec, async ({ values }, io: CliIo) => {
  const timeoutText = (values['case-timeout'] as string | undefined) ?? String(DEFAULT_CASE_TIMEOUT);
  if (!/^\d+$/.test(timeoutText) || Number(timeoutText) === 0) throw new UsageError(`--case-timeout must be a positive number of ms, not '${timeoutText}'`);
  await runAutobahnClient({
    url: (values.url as string | undefined) ?? DEFAULT_FUZZINGSERVER_URL,
    agent: (values.agent as string | undefined) ?? DEFAULT_AGENT,
    perMessageDeflate: values['no-deflate'] !== true,
    caseTimeout: Number(timeoutText),
    log: (line) => io.stdout.write(`${line}\n`),
  });
  return 0;
});

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  autobahnClientCommand.run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
