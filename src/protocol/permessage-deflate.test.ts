import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ErrorCode, WebSocketError } from './errors.js';
import {
  DEFAULT_DEFLATE_OPTIONS,
  acceptDeflateResponse,
  negotiateDeflate,
  offerDeflate,
  resolveDeflateOptions,
  type PerMessageDeflateOptions,
  type ResolvedDeflateOptions,
} from './permessage-deflate.js';
import type { DeflateParams, ExtensionOffer } from './types.js';

/** Splits a header value we generated ourselves (no quoting) into offers, as the real header parser would. */
function parse(header: string): ExtensionOffer[] {
  return header.split(',').map((extension) => {
    const [name, ...params] = extension.split(';').map((part) => part.trim());
    return {
      name: name!,
      params: params.map((param): readonly [string, string | true] => {
        const eq = param.indexOf('=');
        return eq === -1 ? [param, true] : [param.slice(0, eq), param.slice(eq + 1)];
      }),
    };
  });
}

function pmd(...params: Array<readonly [string, string | true]>): ExtensionOffer {
  return { name: 'permessage-deflate', params };
}

function resolved(options: PerMessageDeflateOptions = {}): ResolvedDeflateOptions {
  const result = resolveDeflateOptions(options);
  assert.ok(result);
  return result;
}

function assertHandshakeError(value: unknown, pattern: RegExp): void {
  assert.ok(value instanceof WebSocketError, `expected an error, got ${JSON.stringify(value)}`);
  assert.equal(value.code, ErrorCode.HANDSHAKE);
  assert.equal(value.closeCode, undefined);
  assert.match(value.message, pattern);
}

const DEFAULT_PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe('resolveDeflateOptions', () => {
  test('gives null for false and undefined, and the defaults for true', () => {
    assert.equal(resolveDeflateOptions(false), null);
    assert.equal(resolveDeflateOptions(undefined), null);
    assert.equal(resolveDeflateOptions(true), DEFAULT_DEFLATE_OPTIONS);
    assert.deepEqual(resolveDeflateOptions({}), DEFAULT_DEFLATE_OPTIONS);
  });

  test('documents defaults of 15-bit windows, threshold 1024, level 6, memLevel 8 and concurrency 10', () => {
    assert.deepEqual(DEFAULT_DEFLATE_OPTIONS, {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
      threshold: 1024,
      level: 6,
      memLevel: 8,
      concurrencyLimit: 10,
    });
    assert.ok(Object.isFrozen(DEFAULT_DEFLATE_OPTIONS));
  });

  test('keeps valid values, including 8-bit windows and an unlimited concurrency', () => {
    const options = resolved({ serverMaxWindowBits: 8, clientMaxWindowBits: 9, level: 0, memLevel: 1, threshold: 0 });
    assert.equal(options.serverMaxWindowBits, 8);
    assert.equal(options.clientMaxWindowBits, 9);
    assert.equal(options.level, 0);
    assert.equal(resolved({ concurrencyLimit: Infinity }).concurrencyLimit, Infinity);
  });

  const invalid: Array<[string, unknown]> = [
    ['serverMaxWindowBits 7', { serverMaxWindowBits: 7 }],
    ['serverMaxWindowBits 16', { serverMaxWindowBits: 16 }],
    ['clientMaxWindowBits 9.5', { clientMaxWindowBits: 9.5 }],
    ['clientMaxWindowBits "10"', { clientMaxWindowBits: '10' }],
    ['level 10', { level: 10 }],
    ['level -1', { level: -1 }],
    ['memLevel 0', { memLevel: 0 }],
    ['threshold -1', { threshold: -1 }],
    ['threshold NaN', { threshold: NaN }],
    ['concurrencyLimit 0', { concurrencyLimit: 0 }],
    ['serverNoContextTakeover "yes"', { serverNoContextTakeover: 'yes' }],
    ['null', null],
    ['a number', 1],
    ['an array', []],
  ];
  for (const [label, options] of invalid) {
    test(`throws VOLLEY_ERR_INVALID_ARGUMENT for ${label}`, () => {
      assert.throws(
        () => resolveDeflateOptions(options as PerMessageDeflateOptions),
        (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_ARGUMENT,
      );
    });
  }
});

describe('offerDeflate', () => {
  test('offers a bare client_max_window_bits with default options', () => {
    assert.equal(offerDeflate(DEFAULT_DEFLATE_OPTIONS), 'permessage-deflate; client_max_window_bits');
  });

  test('offers every requested parameter', () => {
    assert.equal(
      offerDeflate(
        resolved({
          serverNoContextTakeover: true,
          clientNoContextTakeover: true,
          serverMaxWindowBits: 10,
          clientMaxWindowBits: 9,
        }),
      ),
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; ' +
        'server_max_window_bits=10; client_max_window_bits=9',
    );
  });
});

describe('negotiateDeflate: accepting offers', () => {
  test('accepts a plain offer with the RFC defaults and an empty response', () => {
    assert.deepEqual(negotiateDeflate([pmd()], DEFAULT_DEFLATE_OPTIONS), {
      params: DEFAULT_PARAMS,
      response: 'permessage-deflate',
    });
  });

  test('adds server_no_context_takeover and client_max_window_bits from its own options', () => {
    const result = negotiateDeflate(
      [pmd(['client_max_window_bits', true])],
      resolved({ serverNoContextTakeover: true, clientMaxWindowBits: 10 }),
    );
    assert.equal(result?.response, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10');
    assert.deepEqual(result?.params, { ...DEFAULT_PARAMS, serverNoContextTakeover: true, clientMaxWindowBits: 10 });
  });

  test('adds client_no_context_takeover even when the client did not offer it', () => {
    const result = negotiateDeflate([pmd()], resolved({ clientNoContextTakeover: true }));
    assert.equal(result?.response, 'permessage-deflate; client_no_context_takeover');
    assert.equal(result?.params.clientNoContextTakeover, true);
  });

  test('does not send client_max_window_bits when the client did not offer it', () => {
    const result = negotiateDeflate([pmd()], resolved({ clientMaxWindowBits: 10 }));
    assert.equal(result?.response, 'permessage-deflate');
    assert.equal(result?.params.clientMaxWindowBits, 15);
  });

  test('answers server_max_window_bits with the smaller of the offer and its own limit', () => {
    const smaller = negotiateDeflate([pmd(['server_max_window_bits', '12'])], resolved({ serverMaxWindowBits: 10 }));
    assert.equal(smaller?.response, 'permessage-deflate; server_max_window_bits=10');
    assert.equal(smaller?.params.serverMaxWindowBits, 10);
    const offered = negotiateDeflate([pmd(['server_max_window_bits', '9'])], DEFAULT_DEFLATE_OPTIONS);
    assert.equal(offered?.response, 'permessage-deflate; server_max_window_bits=9');
    assert.equal(offered?.params.serverMaxWindowBits, 9);
  });

  test('announces a server window below 15 even when the client did not ask', () => {
    const result = negotiateDeflate([pmd()], resolved({ serverMaxWindowBits: 11 }));
    assert.equal(result?.response, 'permessage-deflate; server_max_window_bits=11');
  });

  test('echoes a client_max_window_bits hint, lowered to its own limit', () => {
    assert.equal(
      negotiateDeflate([pmd(['client_max_window_bits', '12'])], DEFAULT_DEFLATE_OPTIONS)?.response,
      'permessage-deflate; client_max_window_bits=12',
    );
    const lowered = negotiateDeflate([pmd(['client_max_window_bits', '12'])], resolved({ clientMaxWindowBits: 9 }));
    assert.equal(lowered?.response, 'permessage-deflate; client_max_window_bits=9');
    assert.equal(lowered?.params.clientMaxWindowBits, 9);
  });

  test('accepts windows of 8 bits from the client', () => {
    const result = negotiateDeflate(
      [pmd(['server_max_window_bits', '8'], ['client_max_window_bits', '8'])],
      DEFAULT_DEFLATE_OPTIONS,
    );
    assert.deepEqual(result?.params, { ...DEFAULT_PARAMS, serverMaxWindowBits: 8, clientMaxWindowBits: 8 });
  });

  test('skips other extensions and returns null when nothing is offered', () => {
    assert.equal(negotiateDeflate([], DEFAULT_DEFLATE_OPTIONS), null);
    assert.equal(negotiateDeflate([{ name: 'x-webkit-deflate-frame', params: [] }], DEFAULT_DEFLATE_OPTIONS), null);
    assert.equal(
      negotiateDeflate([{ name: 'foo', params: [] }, pmd()], DEFAULT_DEFLATE_OPTIONS)?.response,
      'permessage-deflate',
    );
  });
});

// Autobahn 13.x: the client offers client_no_context_takeover and client_max_window_bits as hints and asks for
// server_no_context_takeover and server_max_window_bits (9 or 15, absent = 0 in Autobahn's terms).
describe('negotiateDeflate: the Autobahn 13.x matrix', () => {
  for (const noContextTakeover of [false, true]) {
    for (const windowBits of [0, 9, 15]) {
      const label = `server_no_context_takeover=${noContextTakeover}, server_max_window_bits=${windowBits || 'absent'}`;
      test(`accepts an offer of ${label}`, () => {
        const params: Array<readonly [string, string | true]> = [
          ['client_no_context_takeover', true],
          ['client_max_window_bits', true],
        ];
        if (noContextTakeover) params.push(['server_no_context_takeover', true]);
        if (windowBits) params.push(['server_max_window_bits', String(windowBits)]);
        const result = negotiateDeflate([pmd(...params)], DEFAULT_DEFLATE_OPTIONS);
        assert.ok(result);
        assert.deepEqual(result.params, {
          serverNoContextTakeover: noContextTakeover,
          clientNoContextTakeover: true,
          serverMaxWindowBits: windowBits || 15,
          clientMaxWindowBits: 15,
        });
        const expected = ['permessage-deflate'];
        if (noContextTakeover) expected.push('server_no_context_takeover');
        expected.push('client_no_context_takeover');
        if (windowBits) expected.push(`server_max_window_bits=${windowBits}`);
        assert.equal(result.response, expected.join('; '));
      });
    }
  }

  test('takes the first offer of a fallback list (13.7)', () => {
    const offers = parse(
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits, ' +
        'permessage-deflate; server_no_context_takeover; client_max_window_bits, ' +
        'permessage-deflate; client_max_window_bits',
    );
    assert.equal(
      negotiateDeflate(offers, DEFAULT_DEFLATE_OPTIONS)?.response,
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=9',
    );
  });
});

// reliability.md C2 and class 10: every bad offer is declined, none throws.
describe('negotiateDeflate: declining bad offers', () => {
  const bad: Array<[string, ExtensionOffer]> = [
    ['server_max_window_bits=0', pmd(['server_max_window_bits', '0'])],
    ['server_max_window_bits=7', pmd(['server_max_window_bits', '7'])],
    ['server_max_window_bits=16', pmd(['server_max_window_bits', '16'])],
    ['server_max_window_bits=abc', pmd(['server_max_window_bits', 'abc'])],
    ['server_max_window_bits=09 (leading zero)', pmd(['server_max_window_bits', '09'])],
    ['server_max_window_bits=+9', pmd(['server_max_window_bits', '+9'])],
    ['server_max_window_bits=9.0', pmd(['server_max_window_bits', '9.0'])],
    ['server_max_window_bits=" 9"', pmd(['server_max_window_bits', ' 9'])],
    ['server_max_window_bits=""', pmd(['server_max_window_bits', ''])],
    ['server_max_window_bits without a value', pmd(['server_max_window_bits', true])],
    ['client_max_window_bits=7', pmd(['client_max_window_bits', '7'])],
    ['client_max_window_bits=16', pmd(['client_max_window_bits', '16'])],
    ['client_max_window_bits=abc', pmd(['client_max_window_bits', 'abc'])],
    ['a value on server_no_context_takeover', pmd(['server_no_context_takeover', 'true'])],
    ['a value on client_no_context_takeover', pmd(['client_no_context_takeover', ''])],
    [
      'a duplicate server_no_context_takeover',
      pmd(['server_no_context_takeover', true], ['server_no_context_takeover', true]),
    ],
    ['a duplicate client_max_window_bits', pmd(['client_max_window_bits', true], ['client_max_window_bits', '10'])],
    ['a duplicate server_max_window_bits', pmd(['server_max_window_bits', '10'], ['server_max_window_bits', '10'])],
    ['an unknown parameter', pmd(['client_max_window_bits', true], ['mux', true])],
    ['a parameter in upper case', pmd(['Server_No_Context_Takeover', true])],
    ['a parameter named __proto__', pmd(['__proto__', '1'])],
    ['a parameter named constructor', pmd(['constructor', true])],
    ['a parameter named hasOwnProperty', pmd(['hasOwnProperty', true])],
    ['a parameter named toString', pmd(['toString', 'x'])],
  ];
  for (const [label, offer] of bad) {
    test(`declines an offer with ${label}`, () => {
      assert.equal(negotiateDeflate([offer], DEFAULT_DEFLATE_OPTIONS), null);
    });
  }

  test('accepts client_max_window_bits without a value, meaning the client supports it', () => {
    assert.ok(negotiateDeflate([pmd(['client_max_window_bits', true])], DEFAULT_DEFLATE_OPTIONS));
  });

  for (const bits of ['8', '15']) {
    test(`accepts client_max_window_bits=${bits}`, () => {
      const result = negotiateDeflate([pmd(['client_max_window_bits', bits])], DEFAULT_DEFLATE_OPTIONS);
      assert.equal(result?.params.clientMaxWindowBits, Number(bits));
    });
  }

  test('declines a bad first offer and accepts a good second one', () => {
    const result = negotiateDeflate(
      [pmd(['server_max_window_bits', '16']), pmd(['server_max_window_bits', '10'])],
      DEFAULT_DEFLATE_OPTIONS,
    );
    assert.equal(result?.response, 'permessage-deflate; server_max_window_bits=10');
  });

  test('ignores prototype-named extensions around a good offer', () => {
    const offers: ExtensionOffer[] = [
      { name: 'constructor', params: [] },
      { name: '__proto__', params: [['__proto__', '1']] },
      pmd(['hasOwnProperty', true]),
      pmd(),
    ];
    assert.equal(negotiateDeflate(offers, DEFAULT_DEFLATE_OPTIONS)?.response, 'permessage-deflate');
    assert.equal(({} as Record<string, unknown>)['1'], undefined);
  });
});

describe('acceptDeflateResponse', () => {
  test('returns null when the server accepted no extension', () => {
    assert.equal(acceptDeflateResponse([], DEFAULT_DEFLATE_OPTIONS), null);
  });

  test('accepts a bare response with the RFC defaults', () => {
    assert.deepEqual(acceptDeflateResponse([pmd()], DEFAULT_DEFLATE_OPTIONS), DEFAULT_PARAMS);
  });

  test('accepts parameters the server may add on its own', () => {
    assert.deepEqual(
      acceptDeflateResponse(
        [
          pmd(
            ['server_no_context_takeover', true],
            ['client_no_context_takeover', true],
            ['server_max_window_bits', '8'],
            ['client_max_window_bits', '9'],
          ),
        ],
        DEFAULT_DEFLATE_OPTIONS,
      ),
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 9 },
    );
  });

  test('keeps its own client window and no_context_takeover when the server does not answer them', () => {
    assert.deepEqual(
      acceptDeflateResponse([pmd()], resolved({ clientMaxWindowBits: 10, clientNoContextTakeover: true })),
      { ...DEFAULT_PARAMS, clientNoContextTakeover: true, clientMaxWindowBits: 10 },
    );
  });

  test('accepts a server window at or below the one it asked for', () => {
    const options = resolved({ serverMaxWindowBits: 10 });
    assert.equal(
      (acceptDeflateResponse([pmd(['server_max_window_bits', '10'])], options) as DeflateParams).serverMaxWindowBits,
      10,
    );
    assert.equal(
      (acceptDeflateResponse([pmd(['server_max_window_bits', '9'])], options) as DeflateParams).serverMaxWindowBits,
      9,
    );
  });

  const bad: Array<[string, ExtensionOffer[], PerMessageDeflateOptions, RegExp]> = [
    ['an extension that was not offered', [{ name: 'x-foo', params: [] }], {}, /not offered/],
    ['permessage-deflate twice', [pmd(), pmd()], {}, /more than once/],
    ['an unknown parameter', [pmd(['foo', true])], {}, /unknown parameter "foo"/],
    ['a parameter named __proto__', [pmd(['__proto__', true])], {}, /unknown parameter "__proto__"/],
    [
      'a duplicate parameter',
      [pmd(['client_no_context_takeover', true], ['client_no_context_takeover', true])],
      {},
      /duplicate/,
    ],
    ['a bare client_max_window_bits', [pmd(['client_max_window_bits', true])], {}, /client_max_window_bits/],
    ['client_max_window_bits=16', [pmd(['client_max_window_bits', '16'])], {}, /client_max_window_bits/],
    ['server_max_window_bits=7', [pmd(['server_max_window_bits', '7'])], {}, /server_max_window_bits/],
    ['server_max_window_bits=abc', [pmd(['server_max_window_bits', 'abc'])], {}, /server_max_window_bits/],
    ['a value on server_no_context_takeover', [pmd(['server_no_context_takeover', '1'])], {}, /takes no value/],
    [
      'a client window larger than offered',
      [pmd(['client_max_window_bits', '12'])],
      { clientMaxWindowBits: 10 },
      /exceeds the 10 offered/,
    ],
    [
      'a server window larger than asked for',
      [pmd(['server_max_window_bits', '11'])],
      { serverMaxWindowBits: 10 },
      /exceeds the 10 offered/,
    ],
    ['no server window when one was asked for', [pmd()], { serverMaxWindowBits: 10 }, /did not confirm/],
    [
      'no server_no_context_takeover when it was asked for',
      [pmd()],
      { serverNoContextTakeover: true },
      /did not confirm/,
    ],
  ];
  for (const [label, extensions, options, pattern] of bad) {
    test(`returns a handshake error, without throwing, for ${label}`, () => {
      assertHandshakeError(acceptDeflateResponse(extensions, resolved(options)), pattern);
    });
  }

  test('cuts a huge peer-supplied name short in the error message', () => {
    const error = acceptDeflateResponse([{ name: 'x'.repeat(10_000), params: [] }], DEFAULT_DEFLATE_OPTIONS);
    assert.ok(error instanceof WebSocketError);
    assert.ok(error.message.length < 200);
  });
});

describe('client and server agree', () => {
  const clientChoices: PerMessageDeflateOptions[] = [
    {},
    { serverNoContextTakeover: true },
    { clientNoContextTakeover: true },
    { serverMaxWindowBits: 9 },
    { clientMaxWindowBits: 9 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 12 },
  ];
  const serverChoices: PerMessageDeflateOptions[] = [
    {},
    { serverNoContextTakeover: true },
    { clientNoContextTakeover: true },
    { serverMaxWindowBits: 10 },
    { clientMaxWindowBits: 10 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 8 },
  ];
  for (const client of clientChoices) {
    for (const server of serverChoices) {
      test(`on the same parameters for client ${JSON.stringify(client)} and server ${JSON.stringify(server)}`, () => {
        const clientOptions = resolved(client);
        const serverOptions = resolved(server);
        const negotiated = negotiateDeflate(parse(offerDeflate(clientOptions)), serverOptions);
        assert.ok(negotiated);
        const accepted = acceptDeflateResponse(parse(negotiated.response), clientOptions);
        assert.deepEqual(accepted, negotiated.params);
        const params = accepted as DeflateParams;
        // Every limit either side asked for holds.
        const [c, s] = [clientOptions, serverOptions];
        assert.ok(params.serverMaxWindowBits <= Math.min(c.serverMaxWindowBits, s.serverMaxWindowBits));
        assert.ok(params.clientMaxWindowBits <= Math.min(c.clientMaxWindowBits, s.clientMaxWindowBits));
        if (client.serverNoContextTakeover || server.serverNoContextTakeover) assert.ok(params.serverNoContextTakeover);
        if (client.clientNoContextTakeover || server.clientNoContextTakeover) assert.ok(params.clientNoContextTakeover);
      });
    }
  }
});
