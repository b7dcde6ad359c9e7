/** The strict JSON encoder: what it accepts, and that its errors name the offending path. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_JSON_DEPTH, decodeJson, encodeJson } from './json.js';

function rejection(value: unknown): string {
  try {
    encodeJson(value, 'data');
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'VOLLEY_ERR_NOT_JSON');
    return (error as Error).message;
  }
  assert.fail('expected VOLLEY_ERR_NOT_JSON');
}

describe('encodeJson', () => {
  test('encodes JSON values as JSON.stringify does', () => {
    const value = { a: [1, 'two', null, true, { b: -1.5 }], 'key with space': '', nul: '\u0000' };
    assert.equal(encodeJson(value, 'data'), JSON.stringify(value));
    assert.deepEqual(decodeJson(encodeJson(value, 'data')), value);
  });

  test('names the path of the first value that is not JSON', () => {
    assert.match(rejection({ items: [1, 2, undefined] }), /^data\.items\[2\] is undefined: only JSON values can be stored$/);
    assert.match(rejection({ 'a b': { c: 1n } }), /^data\["a b"\]\.c is a bigint/);
    assert.match(rejection([() => 1]), /^data\[0\] is a function/);
    assert.match(rejection({ n: Number.NaN }), /^data\.n is NaN, not a finite number/);
    assert.match(rejection({ m: new Map() }), /^data\.m is a Map, not a plain object/);
    assert.match(rejection({ d: new Uint8Array(2) }), /^data\.d is a Uint8Array, not a plain object/);
  });

  test('rejects a cycle, but accepts the same object twice side by side', () => {
    const shared = { x: 1 };
    assert.equal(encodeJson([shared, shared], 'data'), '[{"x":1},{"x":1}]');
    const cyclic: unknown[] = [];
    cyclic.push({ back: cyclic });
    assert.match(rejection(cyclic), /^data\[0\]\.back is a circular reference/);
  });

  test(`rejects nesting deeper than ${MAX_JSON_DEPTH} levels without exhausting the stack`, () => {
    const deep = JSON.parse('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1));
    assert.match(rejection(deep), /nests deeper than 1000 levels/);
    const ok = JSON.parse('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH));
    assert.equal(encodeJson(ok, 'data').length, MAX_JSON_DEPTH * 2);
  });
});
