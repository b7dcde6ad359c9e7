/**
 * Errors raised by the engines. Each carries a stable `code`; engines reject their promises with them.
 *
 * @module
 */

/** Stable error codes of the engines. Never renamed once released. */
export const EngineErrorCode = {
  /** An argument or option was out of range or of the wrong type (nothing was stored). */
  INVALID_ARGUMENT: 'VOLLEY_ERR_INVALID_ARGUMENT',
  /** The engine was closed, or a method was called out of order (for example `subscribe` before `setHandler`). */
  INVALID_STATE: 'VOLLEY_ERR_INVALID_STATE',
  /** Data given to a store was not a JSON value (undefined, a function, a BigInt, NaN, a cycle, a Map…). */
  NOT_JSON: 'VOLLEY_ERR_NOT_JSON',
} as const;

/** One of the stable engine error codes. */
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode];

/** An error raised by a Volley engine. */
export class EngineError extends Error {
  /** Stable machine-readable code. */
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Throws `VOLLEY_ERR_INVALID_ARGUMENT`. */
export function invalidArgument(message: string): never {
  throw new EngineError(EngineErrorCode.INVALID_ARGUMENT, message);
}

/** Throws `VOLLEY_ERR_INVALID_STATE` for a call on a closed engine. */
export function closedError(engine: string): never {
  throw new EngineError(EngineErrorCode.INVALID_STATE, `${engine} is closed`);
}

/** Checks that `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalidArgument(`${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** Checks that `value` is a finite number of milliseconds `> 0` (or `>= 0` with `allowZero`). */
export function checkDuration(name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    invalidArgument(`${name} must be a finite number of milliseconds ${allowZero ? '>= 0' : '> 0'}, got ${describe(value)}`);
  }
  return value;
}

/** Checks that `value` is a string (channel names, keys, ids). */
export function checkString(name: string, value: unknown, allowEmpty = true): string {
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    invalidArgument(`${name} must be a${allowEmpty ? '' : ' non-empty'} string, got ${describe(value)}`);
  }
  return value;
}

/** A short description of a bad value for an error message (never its full content). */
function describe(value: unknown): string {
  if (typeof value === 'string') return `a string of length ${value.length}`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return `a ${typeof value}`;
}

/**
 * Checks a broker handler before it is installed: a handler must be an object with `publication`, `join` and
 * `leave` functions (every broker validates the same way).
 */
export function checkBrokerHandler(handler: unknown): void {
  if (typeof handler !== 'object' || handler === null) invalidArgument('handler must be an object');
  for (const name of ['publication', 'join', 'leave'] as const) {
    if (typeof (handler as Record<string, unknown>)[name] !== 'function') invalidArgument(`handler.${name} must be a function`);
  }
}
