/**
 * Tests of the handshake header tokenizers: grammar, prototype-key names, and linear time on the published
 * ReDoS inputs (CVE-2021-32640, CVE-2020-7662).
 *
 * @module
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode } from './errors.js';
import { formatExtension, isToken, parseExtensions, parseTokenList } from './header-tokens.js';

describe('isToken', () => {
  test('accepts every tchar and rejects separators, spaces, controls and non-ASCII', () => {
    assert.equal(isToken("!#$%&'*+-.^_`|~09AZaz"), true);
    for (const bad of ['', 'a b', 'a,b', 'a;b', 'a=b', '"a"', 'a/b', 'a\tb', 'a\r\nb', 'a\0', 'é', '(a)', 'a:b']) {
      assert.equal(isToken(bad), false, JSON.stringify(bad));
    }
  });
});

describe('parseTokenList', () => {
  test('parses one name and a comma-separated list in order', () => {
    assert.deepEqual(parseTokenList('chat'), ['chat']);
    assert.deepEqual(parseTokenList('chat,superchat'), ['chat', 'superchat']);
  });

  test('allows spaces and tabs around commas and at both ends', () => {
    assert.deepEqual(parseTokenList(' \tchat \t, \tsuperchat\t '), ['chat', 'superchat']);
    assert.deepEqual(parseTokenList('a, b, c'), ['a', 'b', 'c']);
  });

  test('rejects empty values and empty elements', () => {
    for (const bad of ['', ' ', ',', 'a,', ',a', 'a,,b', 'a, ,b', 'a,\t']) {
      assert.equal(parseTokenList(bad), null, JSON.stringify(bad));
    }
  });

  test('rejects duplicate names but treats names differing in case as distinct', () => {
    assert.equal(parseTokenList('chat, chat'), null);
    assert.equal(parseTokenList('a, b, a'), null);
    assert.deepEqual(parseTokenList('chat, Chat'), ['chat', 'Chat']);
  });

  test('rejects names that are not tokens and whitespace inside an element', () => {
    for (const bad of ['a b', 'a;b', '"a"', 'a/b', 'chat\r\nX-Evil: 1', 'a\0', 'ché', 'a\u00a0']) {
      assert.equal(parseTokenList(bad), null, JSON.stringify(bad));
    }
  });

  test('returns prototype property names as plain strings', () => {
    assert.deepEqual(parseTokenList('__proto__, constructor, hasOwnProperty'), ['__proto__', 'constructor', 'hasOwnProperty']);
    assert.equal(parseTokenList('__proto__, __proto__'), null);
  });
});

describe('parseExtensions', () => {
  test('parses an extension without parameters', () => {
    assert.deepEqual(parseExtensions('permessage-deflate'), [{ name: 'permessage-deflate', params: [] }]);
  });

  test('parses flags and valued parameters in order, keeping duplicates', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits=10; server_max_window_bits=11'), [
      {
        name: 'permessage-deflate',
        params: [
          ['client_max_window_bits', true],
          ['server_max_window_bits', '10'],
          ['server_max_window_bits', '11'],
        ],
      },
    ]);
  });

  test('parses several offers including repeated extension names', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits=10, permessage-deflate, x-webkit'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', '10']] },
      { name: 'permessage-deflate', params: [] },
      { name: 'x-webkit', params: [] },
    ]);
  });

  test('allows optional whitespace around separators and the equals sign', () => {
    assert.deepEqual(parseExtensions(' \ta \t; \tb \t= \t1 \t; c\t, \td '), [
      { name: 'a', params: [['b', '1'], ['c', true]] },
      { name: 'd', params: [] },
    ]);
  });

  test('unquotes quoted values, including escaped characters', () => {
    assert.deepEqual(parseExtensions('a; b="10"; c="x\\yz"'), [{ name: 'a', params: [['b', '10'], ['c', 'xyz']] }]);
  });

  test('rejects quoted values that are not tokens once unquoted', () => {
    for (const bad of ['a; b=""', 'a; b="1 0"', 'a; b="x,y"', 'a; b="\\""', 'a; b="é"']) {
      assert.equal(parseExtensions(bad), null, JSON.stringify(bad));
    }
  });

  test('rejects malformed quoted strings', () => {
    for (const bad of ['a; b="10', 'a; b="', 'a; b="1\\', 'a; b="1"0', 'a; b="1\r\n"', 'a; b="\\\n"', 'a; b=1"', 'a; "b"=1']) {
      assert.equal(parseExtensions(bad), null, JSON.stringify(bad));
    }
  });

  test('rejects every other syntax error', () => {
    const bad = [
      '',
      ' ',
      ',',
      'a,',
      ',a',
      'a,,b',
      ';',
      'a;',
      'a;;b',
      'a; ;b',
      '; a',
      'a b',
      'a; b c',
      'a; b=',
      'a; b= ;c',
      'a; =1',
      'a; b==1',
      'a; b=1=2',
      'a; b=1 2',
      'a=1',
      'a; b=1,',
      'a\r\n',
      'a; b=x\0',
      'a/b',
    ];
    for (const value of bad) assert.equal(parseExtensions(value), null, JSON.stringify(value));
  });

  test('parses prototype property names into plain data (ws 3.3.1 crash)', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const offers = parseExtensions('constructor; __proto__=1, hasOwnProperty, toString; valueOf="2"');
    assert.deepEqual(offers, [
      { name: 'constructor', params: [['__proto__', '1']] },
      { name: 'hasOwnProperty', params: [] },
      { name: 'toString', params: [['valueOf', '2']] },
    ]);
    assert.equal(Object.getPrototypeOf(offers?.[0]), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), before);
    assert.equal(({} as Record<string, unknown>)['1'], undefined);
  });
});

describe('formatExtension', () => {
  test('writes the name, flags and valued parameters separated by "; "', () => {
    assert.equal(
      formatExtension('permessage-deflate', [
        ['server_no_context_takeover', true],
        ['client_max_window_bits', '10'],
      ]),
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
    );
    assert.equal(formatExtension('x', []), 'x');
  });

  test('round-trips through parseExtensions', () => {
    const params = [['a', true], ['b', '15'], ['a', 'x']] as const;
    assert.deepEqual(parseExtensions(formatExtension('ext', params)), [{ name: 'ext', params }]);
  });

  test('throws INVALID_ARGUMENT for names or values that are not tokens', () => {
    const cases: Array<[string, Array<[string, string | true]>]> = [
      ['', []],
      ['a b', []],
      ['a\r\nX: 1', []],
      ['a', [['', true]]],
      ['a', [['b;c', true]]],
      ['a', [['b', '']]],
      ['a', [['b', '1 2']]],
      ['a', [['b', 'x\r\ny']]],
    ];
    for (const [name, params] of cases) {
      assert.throws(() => formatExtension(name, params), { code: ErrorCode.INVALID_ARGUMENT }, JSON.stringify([name, params]));
    }
  });
});

/** Best of `runs` timings of `fn(input)`, in milliseconds. */
function bestTime(fn: (input: string) => unknown, input: string, runs = 5): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn(input);
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/**
 * Asserts that parsing `make(64k)` takes less than 20 × the time of `make(4k)` + 5 ms: loose on purpose, so a busy
 * machine does not fail it, yet far below the 256 × (or worse) growth of a quadratic parser.
 */
function assertLinear(fn: (input: string) => unknown, make: (n: number) => string): void {
  const small = make(4096);
  const large = make(65536);
  fn(large); // warm up
  const tSmall = bestTime(fn, small, 9);
  const tLarge = bestTime(fn, large, 9);
  assert.ok(tLarge < 20 * tSmall + 5, `${large.slice(0, 12)}…: 4k took ${tSmall} ms, 64k took ${tLarge} ms`);
}

describe('parse time on the published ReDoS inputs', () => {
  test('parseTokenList rejects "b" + n spaces + "x" in linear time (CVE-2021-32640)', () => {
    const poc = (n: number) => 'b' + ' '.repeat(n) + 'x';
    for (const n of [1024, 4096, 16384, 65536]) assert.equal(parseTokenList(poc(n)), null);
    const small = bestTime(parseTokenList, poc(4096));
    const large = bestTime(parseTokenList, poc(65536));
    assert.ok(large < 100, `64k spaces took ${large} ms (a quadratic parser takes seconds)`);
    assert.ok(large < 20 * small + 5, `4k: ${small} ms, 64k: ${large} ms`);
  });

  test('parseTokenList time grows linearly on a long list of spaced names', () => {
    const list = (n: number) => Array.from({ length: n / 8 }, (_, i) => `p${i}`).join(' , ');
    assert.equal(parseTokenList(list(65536))?.length, 8192);
    assertLinear(parseTokenList, list);
  });

  test('parseExtensions rejects an unclosed quoted string of n escapes in linear time (CVE-2020-7662)', () => {
    const poc = (n: number) => 'a; b="' + '\\c'.repeat(n / 2);
    for (const n of [1024, 4096, 16384, 65536]) assert.equal(parseExtensions(poc(n)), null);
    const small = bestTime(parseExtensions, poc(4096));
    const large = bestTime(parseExtensions, poc(65536));
    assert.ok(large < 100, `64k took ${large} ms (an exponential parser never finishes)`);
    assert.ok(large < 20 * small + 5, `4k: ${small} ms, 64k: ${large} ms`);
  });

  test('parseExtensions time grows linearly on long whitespace, many parameters and long quoted strings', () => {
    const families = [
      (n: number) => 'a' + ' '.repeat(n) + 'x',
      (n: number) => 'a;' + ' b;'.repeat(n / 3) + ' c',
      (n: number) => 'a; b="' + '\\c'.repeat(n / 2) + '"',
      (n: number) => 'a; b=' + ' '.repeat(n),
      (n: number) => 'a, '.repeat(n / 3) + 'a',
    ];
    for (const family of families) assertLinear(parseExtensions, family);
    assert.equal(parseExtensions(families[2]!(65536))?.[0]?.params[0]?.[1], 'c'.repeat(32768));
    assert.equal(parseExtensions(families[4]!(65536))?.length, 21846);
  });
});
