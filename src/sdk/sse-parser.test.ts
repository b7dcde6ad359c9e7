import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SseParser, type SseEvent } from './sse-parser.js';

const STREAM =
  '\ufeff: comment\r\nevent: open\r\ndata: {"sid":"s1"}\r\n\r\n' +
  'data: {"id":1,"result":{}}\n\n' +
  'data: line one\ndata: line two\nid: 7\n\n' +
  ': ping\n\n' +
  'data:no space\rretry: 3000\r\r' +
  'event: custom\ndata\n\n';

const EXPECTED: SseEvent[] = [
  { event: 'open', data: '{"sid":"s1"}', id: undefined },
  { event: 'message', data: '{"id":1,"result":{}}', id: undefined },
  { event: 'message', data: 'line one\nline two', id: '7' },
  { event: 'message', data: 'no space', id: undefined },
  { event: 'custom', data: '', id: undefined },
];

function parseInPieces(pieces: string[]): SseEvent[] {
  const parser = new SseParser();
  return pieces.flatMap((piece) => parser.push(piece));
}

describe('SseParser', () => {
  test('parses events, named events, multi-line data, comments, CR, LF and CRLF line ends and a BOM', () => {
    assert.deepEqual(parseInPieces([STREAM]), EXPECTED);
  });

  test('gives the same events with the stream split at every position', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      assert.deepEqual(parseInPieces([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `split at ${i}`);
    }
  });

  test('gives the same events fed one character at a time', () => {
    assert.deepEqual(parseInPieces([...STREAM]), EXPECTED);
  });

  test('holds an event back until its blank line arrives', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: x\n'), []);
    assert.deepEqual(parser.push('\n'), [{ event: 'message', data: 'x', id: undefined }]);
  });

  test('a CR at the end of one piece and an LF at the start of the next are one line end', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: a\r'), []);
    assert.deepEqual(parser.push('\n\r'), [{ event: 'message', data: 'a', id: undefined }]);
    assert.deepEqual(parser.push('\n'), []);
  });
});
