/**
 * Strict JSON encoding for stored data. `JSON.stringify` silently drops `undefined` and functions, turns `NaN`
 * into `null`, a `Map` into `{}` and throws an unhelpful `TypeError` on a BigInt; a store must not change what it
 * was given, so {@link encodeJson} accepts only JSON values and names the path of the first one that is not.
 *
 * @module
 */

import { EngineError, EngineErrorCode } from './errors.js';

/** Deepest nesting accepted, so a hostile value cannot exhaust the stack. */
export const MAX_JSON_DEPTH = 1000;

/**
 * Encodes a JSON value: `null`, a boolean, a finite number, a string, an array of JSON values or a plain object
 * (prototype `Object.prototype` or `null`) whose values are JSON values. Symbol-keyed properties are ignored.
 *
 * @param what Name of the value in error messages (`'data'`, `'info'`).
 * @throws {@link EngineError} `VOLLEY_ERR_NOT_JSON` naming the first offending path, e.g. `data.items[2] is undefined`.
 */
export function encodeJson(value: unknown, what: string): string {
  const path: Array<string | number> = [];
  check(value, path, new Set<object>(), what);
  return JSON.stringify(value);
}

/** Decodes text written by {@link encodeJson}. `__proto__` keys come back as own data properties. */
export function decodeJson(text: string): unknown {
  return JSON.parse(text);
}

function check(value: unknown, path: Array<string | number>, ancestors: Set<object>, what: string): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(what, path, `is ${value}, not a finite number`);
      return;
    case 'object': {
      if (value === null) return;
      if (path.length >= MAX_JSON_DEPTH) fail(what, path, `nests deeper than ${MAX_JSON_DEPTH} levels`);
      if (ancestors.has(value)) fail(what, path, 'is a circular reference');
      ancestors.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          check(value[i], path, ancestors, what);
          path.pop();
        }
      } else {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
          fail(what, path, `is ${typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype'}, not a plain object`);
        }
        for (const key of Object.keys(value)) {
          path.push(key);
          check((value as Record<string, unknown>)[key], path, ancestors, what);
          path.pop();
        }
      }
      ancestors.delete(value);
      return;
    }
    case 'undefined':
      fail(what, path, 'is undefined');
    // falls through (fail never returns)
    default:
      fail(what, path, `is a ${typeof value}`);
  }
}

function fail(what: string, path: ReadonlyArray<string | number>, problem: string): never {
  let where = what;
  for (const part of path) {
    where += typeof part === 'number' ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  throw new EngineError(EngineErrorCode.NOT_JSON, `${where} ${problem}: only JSON values can be stored`);
}
