/**
 * Strict validation of client commands (docs/protocol.md, "Validation"): one decoded message in, either a
 * {@link Command} built field by field from what was checked, or the reason it was refused.
 *
 * The rules, in the order they are applied:
 * - the message is a plain object whose `id` is a positive safe integer; otherwise the result has `id: null`
 *   and the hub disconnects the client with 4501 (there is no id to reply to);
 * - `type` names a command, and every other field is one that command allows, with the right type. A refused
 *   command with a valid id gets a `bad_request` error reply for that id.
 *
 * Only own properties are read (`Object.hasOwn`, `Object.keys`), lookups by attacker-chosen names go through a
 * `Map`, and the command returned is a fresh object, so nothing a client sends reaches a prototype (the
 * CVE-2022-2421 / CVE-2023-32695 / CVE-2024-38355 class). `data` and `presenceData` are checked to be JSON
 * values iteratively, so a nesting of 100,000 levels costs a loop, not the call stack.
 *
 * @module
 */

import { CHANNEL_NAME_PATTERN, CHANNEL_PUNCTUATION, RESERVED_NAMES } from './wire.js';
import type {
  Command,
  CommandType,
  ConnectCommand,
  HistoryCommand,
  PresenceCommand,
  PublishCommand,
  RpcCommand,
  SubscribeCommand,
  WirePosition,
} from './wire.js';
import { invalidArgument } from '../protocol/errors.js';

// ------------------------------------------------------------------------------------------------- limits

/** Limits applied by {@link parseCommand}. Protocol constants that never vary are separate exports. */
export interface CommandLimits {
  /**
   * Longest channel name, in characters (all of them ASCII, so also bytes).
   * @default 255
   */
  readonly maxChannelLength: number;
  /**
   * Longest rpc method name, in characters.
   * @default 255
   */
  readonly maxMethodLength: number;
  /**
   * Largest `limit` a history command may ask for.
   * @default 1000
   */
  readonly maxHistoryLimit: number;
  /**
   * Most channels in a connect command's `subscriptions`.
   * @default 128 (Centrifugo's per-connection channel limit)
   */
  readonly maxSubscriptions: number;
  /**
   * Deepest nesting of arrays and objects in a message, the command object itself being level 1: `data` in a
   * publish may therefore nest `maxDepth - 1` levels. The codec enforces the same limit on whole frames.
   * @default 64
   */
  readonly maxDepth: number;
  /**
   * Longest token (connect, refresh), in characters.
   * @default 16384
   */
  readonly maxTokenLength: number;
}

/** The defaults of {@link CommandLimits}. */
export const DEFAULT_COMMAND_LIMITS: CommandLimits = Object.freeze({
  maxChannelLength: 255,
  maxMethodLength: 255,
  maxHistoryLimit: 1000,
  maxSubscriptions: 128,
  maxDepth: 64,
  maxTokenLength: 16384,
});

/** Longest `idempotencyKey` of a publish command, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** Longest `epoch` in a recovery position, in characters. */
export const MAX_EPOCH_LENGTH = 64;
/** Longest client `name` or `version` in a connect command, in characters. */
export const MAX_CLIENT_NAME_LENGTH = 64;

/**
 * Fills in and checks command limits: every field a positive safe integer (`maxDepth` at least 4, enough for
 * the envelope of a connect command). Throws `VOLLEY_ERR_INVALID_ARGUMENT` otherwise.
 *
 * @example
 * ```ts
 * const limits = commandLimits({ maxChannelLength: 128 });
 * ```
 */
export function commandLimits(options: Partial<CommandLimits> = {}): CommandLimits {
  const limits: CommandLimits = { ...DEFAULT_COMMAND_LIMITS, ...options };
  for (const key of Object.keys(DEFAULT_COMMAND_LIMITS) as Array<keyof CommandLimits>) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value < 1) invalidArgument(`${key} must be a positive integer`);
  }
  if (limits.maxDepth < 4) invalidArgument('maxDepth must be at least 4');
  return Object.freeze(limits);
}

// ----------------------------------------------------------------------------------------- channel grammar

// The grammar lives in wire.ts, where the client SDK (which may import nothing else of the hub) shares it.
export { CHANNEL_PUNCTUATION, RESERVED_NAMES };

/**
 * Why `value` is not a valid channel name, or `undefined` when it is one. Also used for rpc method names.
 *
 * @example
 * ```ts
 * nameProblem('chat:room-1');  // undefined
 * nameProblem(':room');        // 'must not have an empty segment'
 * nameProblem('constructor');  // 'uses the reserved name "constructor"'
 * ```
 */
export function nameProblem(value: unknown, maxLength: number = DEFAULT_COMMAND_LIMITS.maxChannelLength): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > maxLength) return `must be at most ${maxLength} characters`;
  if (!CHANNEL_NAME_PATTERN.test(value)) {
    return /^[A-Za-z0-9_\-.@=/,;#:]*$/.test(value)
      ? 'must not have an empty segment'
      : `may only contain letters, digits, ":" and "${CHANNEL_PUNCTUATION}"`;
  }
  const colon = value.indexOf(':');
  const first = colon === -1 ? value : value.slice(0, colon);
  if (RESERVED_NAMES.has(first)) return `uses the reserved name "${first}"`;
  return undefined;
}

/** Whether `value` is a valid channel name of at most `maxLength` characters (see {@link nameProblem}). */
export function isChannel(value: unknown, maxLength: number = DEFAULT_COMMAND_LIMITS.maxChannelLength): value is string {
  return nameProblem(value, maxLength) === undefined;
}

// --------------------------------------------------------------------------------------------- JSON values

/** What is wrong with a value that should be JSON data (see {@link jsonValueProblem}). */
export interface JsonProblem {
  /** `too_deep`: nesting over the limit; `forbidden_key`: an object key `__proto__`; `unsupported_value`: the rest. */
  readonly kind: 'too_deep' | 'forbidden_key' | 'unsupported_value';
  /** A predicate for the value: "nests deeper than 63 levels", "contains a number that is not finite", … */
  readonly message: string;
}

const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/**
 * Checks that `value` is JSON data as both encodings carry it: `null`, booleans, finite numbers, well-formed
 * Unicode strings, arrays, and plain objects whose keys are well-formed and never `__proto__`; arrays and
 * objects nested at most `maxDepth` levels (a scalar is level 0, `[]` level 1, `[[]]` level 2).
 *
 * Iterative: the depth of the input never reaches the call stack. Linear in the size of a tree (the decoders
 * only produce trees); a graph that shares nodes is walked once per path, so pass only decoded values.
 *
 * @returns the first problem found, or `undefined` when `value` is JSON data.
 */
export function jsonValueProblem(value: unknown, maxDepth: number): JsonProblem | undefined {
  const first = scalarProblem(value);
  if (first !== CONTAINER) return first;
  // Depth-first, in order, with an explicit stack of the open ancestors: at most `maxDepth` frames, however
  // wide or deep the input.
  const parents: object[] = [];
  const parentKeys: Array<readonly string[] | null> = [];
  const parentIndex: number[] = [];
  if (maxDepth < 1) return tooDeep(maxDepth);
  let node = value as object;
  let entered = enter(node);
  if (isProblem(entered)) return entered;
  let keys = entered;
  let index = 0;
  for (;;) {
    const length = keys === null ? (node as unknown[]).length : keys.length;
    if (index < length) {
      let item: unknown;
      if (keys === null) item = (node as unknown[])[index];
      else {
        const key = keys[index]!;
        if (key === '__proto__') return { kind: 'forbidden_key', message: 'has the object key "__proto__"' };
        if (!isWellFormed.call(key)) return notJson('a key that is not well-formed Unicode');
        item = (node as Record<string, unknown>)[key];
      }
      index++;
      const problem = scalarProblem(item);
      if (problem === undefined) continue;
      if (problem !== CONTAINER) return problem;
      if (parents.length + 2 > maxDepth) return tooDeep(maxDepth);
      entered = enter(item as object);
      if (isProblem(entered)) return entered;
      parents.push(node);
      parentKeys.push(keys);
      parentIndex.push(index);
      node = item as object;
      keys = entered;
      index = 0;
    } else {
      if (parents.length === 0) return undefined;
      node = parents.pop()!;
      keys = parentKeys.pop()!;
      index = parentIndex.pop()!;
    }
  }
}

/** Checks a container's kind: `null` for an array, its own keys for a plain object, else the problem. */
function enter(node: object): readonly string[] | null | JsonProblem {
  if (Array.isArray(node)) return Object.getPrototypeOf(node) === Array.prototype ? null : notJson('an exotic array');
  const proto: unknown = Object.getPrototypeOf(node);
  if (proto !== Object.prototype && proto !== null) return notJson('an object that is not a plain object');
  return Object.keys(node);
}

function isProblem(entered: readonly string[] | null | JsonProblem): entered is JsonProblem {
  return entered !== null && !Array.isArray(entered);
}

function tooDeep(maxDepth: number): JsonProblem {
  return { kind: 'too_deep', message: `nests deeper than ${maxDepth} levels` };
}

function notJson(what: string): JsonProblem {
  return { kind: 'unsupported_value', message: `contains ${what}` };
}

const CONTAINER = 'container';

/** `undefined` for a valid scalar, {@link CONTAINER} for an array or object (checked by the caller), else the problem. */
function scalarProblem(value: unknown): JsonProblem | typeof CONTAINER | undefined {
  switch (typeof value) {
    case 'string':
      return isWellFormed.call(value) ? undefined : notJson('a string that is not well-formed Unicode');
    case 'number':
      return Number.isFinite(value) ? undefined : notJson('a number that is not finite');
    case 'boolean':
      return undefined;
    case 'object':
      return value === null ? undefined : CONTAINER;
    default:
      return notJson(`a value of type ${typeof value}`);
  }
}

// ---------------------------------------------------------------------------------------------- commands

/** What {@link parseCommand} returns. */
export type ParseCommandResult =
  | { readonly ok: true; readonly command: Command }
  | {
      readonly ok: false;
      /** The command's id when it was valid (reply `bad_request`), else `null` (disconnect with 4501). */
      readonly id: number | null;
      /** Why, for the error reply or the disconnect reason. Never echoes more than 32 characters of input. */
      readonly message: string;
    };

/** Fields each command type allows besides `id` and `type`. A `Map`, so `type: "__proto__"` finds nothing. */
const FIELDS: ReadonlyMap<string, ReadonlySet<string>> = new Map<CommandType, ReadonlySet<string>>([
  ['connect', new Set(['token', 'name', 'version', 'subscriptions'])],
  ['subscribe', new Set(['channel', 'recover', 'presenceData'])],
  ['unsubscribe', new Set(['channel'])],
  ['publish', new Set(['channel', 'data', 'idempotencyKey'])],
  ['presence', new Set(['channel', 'countsOnly'])],
  ['history', new Set(['channel', 'since', 'limit', 'reverse'])],
  ['rpc', new Set(['method', 'data'])],
  ['ping', new Set()],
  ['refresh', new Set(['token'])],
]);

/** Thrown inside this module only, caught by {@link parseCommand}. */
class Invalid {
  constructor(readonly message: string) {}
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Fields = Readonly<Record<string, unknown>>;

/**
 * Validates one decoded message as a command of protocol v1 (see the module comment for the rules).
 * Never throws for any input a decoder can produce.
 *
 * @example
 * ```ts
 * const parsed = parseCommand(codec.decode(frame), DEFAULT_COMMAND_LIMITS);
 * if (!parsed.ok) {
 *   if (parsed.id === null) session.disconnect(DisconnectCode.BAD_REQUEST, parsed.message);
 *   else session.replyError(parsed.id, { code: 'bad_request', message: parsed.message });
 * }
 * ```
 */
export function parseCommand(value: unknown, limits: CommandLimits = DEFAULT_COMMAND_LIMITS): ParseCommandResult {
  if (!isPlainObject(value)) return { ok: false, id: null, message: 'a command must be an object' };
  const id = Object.hasOwn(value, 'id') ? value['id'] : undefined;
  if (!isPositiveInteger(id)) return { ok: false, id: null, message: '"id" must be a positive integer' };
  try {
    return { ok: true, command: parseFields(value, id, limits) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, id, message: error.message };
    throw error;
  }
}

function parseFields(value: Fields, id: number, limits: CommandLimits): Command {
  const type = Object.hasOwn(value, 'type') ? value['type'] : undefined;
  if (typeof type !== 'string') throw new Invalid('"type" must be a string');
  const allowed = FIELDS.get(type);
  if (allowed === undefined) throw new Invalid(`unknown command type ${quote(type)}`);
  for (const key of Object.keys(value)) {
    if (key !== 'id' && key !== 'type' && !allowed.has(key)) throw new Invalid(`${type}: unknown field ${quote(key)}`);
  }
  const fields = new Reader(value, type as CommandType, limits);
  switch (type as CommandType) {
    case 'connect': {
      const command: Mutable<ConnectCommand> = { id, type: 'connect' };
      const token = fields.optional('token', (v) => tokenProblem(v, limits));
      if (token !== undefined) command.token = token as string;
      const name = fields.optional('name', clientNameProblem);
      if (name !== undefined) command.name = name as string;
      const version = fields.optional('version', clientNameProblem);
      if (version !== undefined) command.version = version as string;
      if (fields.has('subscriptions')) command.subscriptions = parseSubscriptions(value['subscriptions'], limits);
      return command;
    }
    case 'subscribe': {
      const command: Mutable<SubscribeCommand> = { id, type: 'subscribe', channel: fields.channel() };
      if (fields.has('recover')) command.recover = parsePosition(value['recover'], 'subscribe: "recover"');
      if (fields.has('presenceData')) command.presenceData = fields.data('presenceData');
      return command;
    }
    case 'unsubscribe':
      return { id, type: 'unsubscribe', channel: fields.channel() };
    case 'publish': {
      const channel = fields.channel();
      if (!fields.has('data')) throw new Invalid('publish: "data" is required');
      const command: Mutable<PublishCommand> = { id, type: 'publish', channel, data: fields.data('data') };
      const key = fields.optional('idempotencyKey', idempotencyKeyProblem);
      if (key !== undefined) command.idempotencyKey = key as string;
      return command;
    }
    case 'presence': {
      const command: Mutable<PresenceCommand> = { id, type: 'presence', channel: fields.channel() };
      const countsOnly = fields.optional('countsOnly', booleanProblem);
      if (countsOnly !== undefined) command.countsOnly = countsOnly as boolean;
      return command;
    }
    case 'history': {
      const command: Mutable<HistoryCommand> = { id, type: 'history', channel: fields.channel() };
      const since = fields.optional('since', offsetProblem);
      if (since !== undefined) command.since = since as number;
      const limit = fields.optional('limit', (v) => historyLimitProblem(v, limits.maxHistoryLimit));
      if (limit !== undefined) command.limit = limit as number;
      const reverse = fields.optional('reverse', booleanProblem);
      if (reverse !== undefined) command.reverse = reverse as boolean;
      return command;
    }
    case 'rpc': {
      const method = fields.optional('method', (v) => nameProblem(v, limits.maxMethodLength));
      if (method === undefined) throw new Invalid('rpc: "method" is required');
      const command: Mutable<RpcCommand> = { id, type: 'rpc', method: method as string };
      if (fields.has('data')) command.data = fields.data('data');
      return command;
    }
    case 'ping':
      return { id, type: 'ping' };
    case 'refresh': {
      const token = fields.optional('token', (v) => tokenProblem(v, limits));
      if (token === undefined) throw new Invalid('refresh: "token" is required');
      return { id, type: 'refresh', token: token as string };
    }
  }
}

/** Reads the fields of one command, throwing {@link Invalid} with the command type and field name. */
class Reader {
  constructor(
    private readonly value: Fields,
    private readonly type: CommandType,
    private readonly limits: CommandLimits,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.value, key);
  }

  /** The field's value when present and valid, `undefined` when absent; throws when present and invalid. */
  optional(key: string, problemOf: (value: unknown) => string | undefined): unknown {
    if (!this.has(key)) return undefined;
    const value = this.value[key];
    const problem = problemOf(value);
    if (problem !== undefined) throw new Invalid(`${this.type}: "${key}" ${problem}`);
    return value;
  }

  channel(): string {
    if (!this.has('channel')) throw new Invalid(`${this.type}: "channel" is required`);
    return this.optional('channel', (v) => nameProblem(v, this.limits.maxChannelLength)) as string;
  }

  /** Application data: any JSON value, nested at most `maxDepth - 1` levels (the command is level 1). */
  data(key: string): unknown {
    const value = this.value[key];
    const problem = jsonValueProblem(value, this.limits.maxDepth - 1);
    if (problem !== undefined) throw new Invalid(`${this.type}: "${key}" ${problem.message}`);
    return value;
  }
}

function parseSubscriptions(value: unknown, limits: CommandLimits): Record<string, { recover?: WirePosition }> {
  if (!isPlainObject(value)) throw new Invalid('connect: "subscriptions" must be an object');
  const channels = Object.keys(value);
  if (channels.length > limits.maxSubscriptions) {
    throw new Invalid(`connect: "subscriptions" may name at most ${limits.maxSubscriptions} channels`);
  }
  const entries: Array<[string, { recover?: WirePosition }]> = [];
  for (const channel of channels) {
    const problem = nameProblem(channel, limits.maxChannelLength);
    if (problem !== undefined) throw new Invalid(`connect: subscription channel ${quote(channel)} ${problem}`);
    const options = value[channel];
    const where = `connect: subscription ${quote(channel)}`;
    if (!isPlainObject(options)) throw new Invalid(`${where} must be an object`);
    for (const key of Object.keys(options)) {
      if (key !== 'recover') throw new Invalid(`${where}: unknown field ${quote(key)}`);
    }
    entries.push([channel, Object.hasOwn(options, 'recover') ? { recover: parsePosition(options['recover'], `${where}: "recover"`) } : {}]);
  }
  // fromEntries defines properties (never [[Set]]), so no key can reach a prototype; the grammar already
  // refuses "__proto__".
  return Object.fromEntries(entries);
}

function parsePosition(value: unknown, where: string): WirePosition {
  if (!isPlainObject(value)) throw new Invalid(`${where} must be an object {epoch, offset}`);
  for (const key of Object.keys(value)) {
    if (key !== 'epoch' && key !== 'offset') throw new Invalid(`${where}: unknown field ${quote(key)}`);
  }
  const epoch = Object.hasOwn(value, 'epoch') ? value['epoch'] : undefined;
  if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH || !/^[\x20-\x7e]*$/.test(epoch)) {
    throw new Invalid(`${where}: "epoch" must be a string of at most ${MAX_EPOCH_LENGTH} printable ASCII characters`);
  }
  const offset = Object.hasOwn(value, 'offset') ? value['offset'] : undefined;
  const problem = offsetProblem(offset);
  if (problem !== undefined) throw new Invalid(`${where}: "offset" ${problem}`);
  return { epoch, offset: offset as number };
}

// ------------------------------------------------------------------------------------------ field checks

function isPlainObject(value: unknown): value is Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function offsetProblem(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? undefined : 'must be a non-negative integer';
}

function historyLimitProblem(value: unknown, max: number): string | undefined {
  return offsetProblem(value) === undefined && (value as number) <= max ? undefined : `must be an integer from 0 to ${max}`;
}

function booleanProblem(value: unknown): string | undefined {
  return typeof value === 'boolean' ? undefined : 'must be true or false';
}

function tokenProblem(value: unknown, limits: CommandLimits): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > limits.maxTokenLength || !/^[\x21-\x7e]+$/.test(value)) {
    return `must be 1 to ${limits.maxTokenLength} printable ASCII characters without spaces`;
  }
  return undefined;
}

/** Name and version: short, printable text (they end up in logs and metric labels). */
function clientNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_CLIENT_NAME_LENGTH || !/^[\x20-\x7e]*$/.test(value)) {
    return `must be a string of at most ${MAX_CLIENT_NAME_LENGTH} printable ASCII characters`;
  }
  return undefined;
}

function idempotencyKeyProblem(value: unknown): string | undefined {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_IDEMPOTENCY_KEY_LENGTH ||
    /[\u0000-\u001f\u007f-\u009f]/.test(value) ||
    !isWellFormed.call(value)
  ) {
    return `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters without control characters`;
  }
  return undefined;
}

/** A short, escaped rendering of an attacker-chosen string for a message (never more than 32 characters of it). */
function quote(text: string): string {
  return JSON.stringify(text.length > 32 ? `${text.slice(0, 32)}…` : text);
}
