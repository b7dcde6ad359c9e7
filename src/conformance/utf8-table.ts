/**
 * The UTF-8 stress table of Autobahn|Testsuite cases 6.5-6.23, built from Markus Kuhn's UTF-8 decoder test
 * file (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt), numbered as Autobahn numbers them:
 * group 6.N, entry 6.N.M. Valid entries must be echoed byte for byte, invalid ones must fail with 1007.
 *
 * @module
 */

/** One entry: Autobahn id, whether the bytes are valid UTF-8, and the bytes. */
export interface Utf8Case {
  id: string;
  group: string;
  valid: boolean;
  bytes: Buffer;
}

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const ascii = (text: string) => Buffer.from(text, 'latin1');
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

/** κόσμε: the Greek word of the Kuhn file, 11 bytes, five code points of 2-3 bytes. */
export const KOSME = hex('ceba e1bdb9 cf83 cebc ceb5');

/** Every byte from `from` to `to - 1`, each followed by `sep` when given. */
function run(from: number, to: number, sep?: number): Buffer {
  const bytes: number[] = [];
  for (let b = from; b < to; b++) {
    bytes.push(b);
    if (sep !== undefined) bytes.push(sep);
  }
  return Buffer.from(bytes);
}

/** Non-characters U+xFFFE/U+xFFFF of planes 1-16 (valid UTF-8 per RFC 3629). */
function nonCharacters(): Buffer[] {
  const out = [hex('efbfbe'), hex('efbfbf')];
  for (const lead of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const second of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (lead === 0xf4 && second !== 0x8f) continue; // beyond U+10FFFF
      if (lead === 0xf0 && second === 0x8f) continue; // overlong
      for (const last of [0xbe, 0xbf]) out.push(Buffer.from([lead, second, 0xbf, last]));
    }
  }
  return out;
}

const MISSING_LAST = ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(hex);

/** Groups 6.5-6.23 in Autobahn's order: name and entries (valid?, bytes). */
const GROUPS: Array<[string, Array<[boolean, Buffer]>]> = [
  ['Some valid UTF-8 sequences', [
    [true, ascii('hello$world')],
    [true, cat(ascii('hello'), hex('c2a2'), ascii('world'))],
    [true, cat(ascii('hello'), hex('e282ac'), ascii('world'))],
    [true, cat(ascii('hello'), hex('f0a4ada2'), ascii('world'))],
    [true, KOSME],
  ]],
  ['All prefixes of a valid UTF-8 string', Array.from({ length: KOSME.length }, (_, i): [boolean, Buffer] => [
    [2, 5, 7, 9, 11].includes(i + 1), KOSME.subarray(0, i + 1),
  ])],
  ['First possible sequence of a certain length', [
    [true, hex('00')], [true, hex('c280')], [true, hex('e0a080')], [true, hex('f0908080')],
  ]],
  ['First possible sequence length 5/6 (invalid code points)', [[false, hex('f888808080')], [false, hex('fc8480808080')]]],
  ['Last possible sequence of a certain length', [
    [true, hex('7f')], [true, hex('dfbf')], [true, hex('efbfbf')], [true, hex('f48fbfbf')],
  ]],
  ['Last possible sequence length 4/5/6 (invalid code points)', [
    [false, hex('f7bfbfbf')], [false, hex('fbbfbfbfbf')], [false, hex('fdbfbfbfbfbf')],
  ]],
  ['Other boundary conditions', [
    [true, hex('ed9fbf')], [true, hex('ee8080')], [true, hex('efbfbd')], [true, hex('f48fbfbf')], [false, hex('f4908080')],
  ]],
  ['Unexpected continuation bytes', [
    [false, hex('80')], [false, hex('bf')], [false, hex('80bf')], [false, hex('80bf80')], [false, hex('80bf80bf')],
    [false, hex('80bf80bf80')], [false, hex('80bf80bf80bf')], [false, run(0x80, 0xbf)],
  ]],
  ['Lonely start characters', [
    [false, run(0xc0, 0xdf, 0x20)], [false, run(0xe0, 0xef, 0x20)], [false, run(0xf0, 0xf7, 0x20)],
    [false, run(0xf8, 0xfb, 0x20)], [false, run(0xfc, 0xfd, 0x20)],
  ]],
  ['Sequences with last continuation byte missing', MISSING_LAST.map((b): [boolean, Buffer] => [false, b])],
  ['Concatenation of incomplete sequences', [[false, cat(...MISSING_LAST)]]],
  ['Impossible bytes', [[false, hex('fe')], [false, hex('ff')], [false, hex('fefeffff')]]],
  ['Examples of an overlong ASCII character', [
    [false, hex('c0af')], [false, hex('e080af')], [false, hex('f08080af')], [false, hex('f8808080af')], [false, hex('fc80808080af')],
  ]],
  ['Maximum overlong sequences', [
    [false, hex('c1bf')], [false, hex('e09fbf')], [false, hex('f08fbfbf')], [false, hex('f887bfbfbf')], [false, hex('fc83bfbfbfbf')],
  ]],
  ['Overlong representation of the NUL character', [
    [false, hex('c080')], [false, hex('e08080')], [false, hex('f0808080')], [false, hex('f880808080')], [false, hex('fc8080808080')],
  ]],
  ['Single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((h): [boolean, Buffer] => [false, hex(h)])],
  ['Paired UTF-16 surrogates', [
    'eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf',
  ].map((h): [boolean, Buffer] => [false, hex(h)])],
  ['Non-character code points (valid UTF-8)', nonCharacters().map((b): [boolean, Buffer] => [true, b])],
  ['Unicode specials (replacement character etc.)', ['b9', 'ba', 'bb', 'bc', 'bd', 'be', 'bf'].map((h): [boolean, Buffer] => [true, hex(`efbf${h}`)])],
];

/** Every entry of groups 6.5-6.23. */
export const UTF8_CASES: readonly Utf8Case[] = GROUPS.flatMap(([group, entries], g) =>
  entries.map(([valid, bytes], e) => ({ id: `6.${g + 5}.${e + 1}`, group, valid, bytes })),
);
