import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type JsonLimits, JsonScanError, JsonScanner, type JsonScanReason, scanJson } from './json-scan.js';

const LARGE: JsonLimits = {
  maxDepth: 1000,
  maxKeys: 100_000,
  maxTotalKeys: 1_000_000,
  maxItems: 1_000_000,
  maxStringBytes: 16 * 1024 * 1024,
};

const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

type Input = string | Buffer;

function bytes(input: Input): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
}

/** 'ok', or the refusal as `reason@offset`. */
function verdict(chunks: readonly Uint8Array[], limits: JsonLimits = LARGE): string {
  const scanner = new JsonScanner(limits);
  try {
    for (const chunk of chunks) scanner.write(chunk);
    scanner.end();
    return 'ok';
  } catch (err) {
    if (err instanceof JsonScanError) return `${err.reason}@${err.offset}`;
    throw err;
  }
}

/** The verdict for the whole body, after checking every two-chunk split and byte-per-byte agree. */
function splitVerdict(input: Input, limits: JsonLimits = LARGE): string {
  const body = bytes(input);
  const whole = verdict([body], limits);
  for (let k = 0; k <= body.length; k++)
    assert.equal(verdict([body.subarray(0, k), body.subarray(k)], limits), whole, `split at ${k}`);
  const single: Uint8Array[] = [];
  for (let k = 0; k < body.length; k++) single.push(body.subarray(k, k + 1));
  assert.equal(verdict(single, limits), whole, 'byte per byte');
  return whole;
}

function reasonOf(v: string): string {
  return v.split('@')[0] as string;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('JsonScanner: accepts RFC 8259 documents', () => {
  const good = [
    '{}',
    '[]',
    ' \t\r\n{ "a" : [ 1 , 2 ] }\n ',
    '0',
    '-0',
    '123',
    '-12.5e+10',
    '1E-7',
    '0.000',
    '9e9',
    'true',
    'false',
    'null',
    '""',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u0000\\uD83D\\uDE00"',
    '"héllo wörld 中文 😀 \u{10FFFF}"',
    '{"":1,"\\u0000":2}',
    '{"a":{"a":1}}',
    '[{"a":1},{"a":1}]',
    '{"a":1,"b":{"a":2,"b":[{"a":3,"b":null}]},"c":"__proto__"}',
    '{"é":1,"e\\u0301":2}',
    '[[[[]]],{},[{}]]',
    '{"proto":1,"__proto":2,"constructors":3,"Prototype":4}',
  ];
  for (const text of good) {
    it(`accepts ${JSON.stringify(text)}`, () => {
      assert.ok(parses(text));
      assert.equal(splitVerdict(text), 'ok');
    });
  }
});

interface Refusal {
  readonly input: Input;
  readonly expect: `${JsonScanReason}@${number}`;
  readonly limits?: Partial<JsonLimits>;
}

const REFUSALS: Readonly<Record<JsonScanReason, readonly Refusal[]>> = {
  syntax: [
    { input: '', expect: 'syntax@0' },
    { input: ' \n ', expect: 'syntax@3' },
    { input: '{', expect: 'syntax@1' },
    { input: '[1,]', expect: 'syntax@3' },
    { input: '{"a":1,}', expect: 'syntax@7' },
    { input: '{"a"}', expect: 'syntax@4' },
    { input: '{"a" 1}', expect: 'syntax@5' },
    { input: '{a:1}', expect: 'syntax@1' },
    { input: "{'a':1}", expect: 'syntax@1' },
    { input: '[1 2]', expect: 'syntax@3' },
    { input: '[1]]', expect: 'syntax@3' },
    { input: '[}', expect: 'syntax@1' },
    { input: '{"a":1]', expect: 'syntax@6' },
    { input: '1 2', expect: 'syntax@2' },
    { input: '{}{}', expect: 'syntax@2' },
    { input: '01', expect: 'syntax@1' },
    { input: '-', expect: 'syntax@1' },
    { input: '-a', expect: 'syntax@1' },
    { input: '+1', expect: 'syntax@0' },
    { input: '.5', expect: 'syntax@0' },
    { input: '1.', expect: 'syntax@2' },
    { input: '1.e5', expect: 'syntax@2' },
    { input: '1e', expect: 'syntax@2' },
    { input: '1e+', expect: 'syntax@3' },
    { input: '[1e+]', expect: 'syntax@4' },
    { input: '0x10', expect: 'syntax@1' },
    { input: 'NaN', expect: 'syntax@0' },
    { input: 'tru', expect: 'syntax@3' },
    { input: 'truex', expect: 'syntax@4' },
    { input: 'nul1', expect: 'syntax@3' },
    { input: 'True', expect: 'syntax@0' },
    { input: '"abc', expect: 'syntax@4' },
    { input: '"a\tb"', expect: 'syntax@2' },
    { input: '"\u0001"', expect: 'syntax@1' },
    { input: '"\\x"', expect: 'syntax@2' },
    { input: '"\\u12G4"', expect: 'syntax@5' },
    { input: '"\\', expect: 'syntax@2' },
    { input: '\u000b1', expect: 'syntax@0' },
    { input: '\u000c1', expect: 'syntax@0' },
    { input: '1 \u00a0', expect: 'syntax@2' },
  ],
  depth: [
    { input: '[[[]]]', limits: { maxDepth: 2 }, expect: 'depth@2' },
    { input: '{"a":{"b":{}}}', limits: { maxDepth: 2 }, expect: 'depth@10' },
    { input: '[]', limits: { maxDepth: 0 }, expect: 'depth@0' },
  ],
  keys: [
    { input: '{"a":1,"b":2}', limits: { maxKeys: 1 }, expect: 'keys@7' },
    { input: '{"a":1}', limits: { maxKeys: 0 }, expect: 'keys@1' },
    { input: '[{"a":1},{"b":2}]', limits: { maxTotalKeys: 1 }, expect: 'keys@10' },
    { input: '{"a":{"b":1}}', limits: { maxTotalKeys: 1 }, expect: 'keys@6' },
  ],
  items: [
    { input: '[1,2,3]', limits: { maxItems: 2 }, expect: 'items@4' },
    { input: '[[]]', limits: { maxItems: 0 }, expect: 'items@1' },
    { input: '{"a":[true,false]}', limits: { maxItems: 1 }, expect: 'items@10' },
  ],
  string: [
    { input: '"abcd"', limits: { maxStringBytes: 3 }, expect: 'string@4' },
    { input: '{"abcd":1}', limits: { maxStringBytes: 3 }, expect: 'string@5' },
    { input: '"\\n\\n"', limits: { maxStringBytes: 3 }, expect: 'string@4' },
    { input: '"éé"', limits: { maxStringBytes: 3 }, expect: 'string@4' },
    { input: '"\\u0041"', limits: { maxStringBytes: 5 }, expect: 'string@6' },
    { input: '"x"', limits: { maxStringBytes: 0 }, expect: 'string@1' },
  ],
  'duplicate-key': [
    { input: '{"a":1,"a":2}', expect: 'duplicate-key@9' },
    { input: '{"a":1,"\\u0061":2}', expect: 'duplicate-key@14' },
    { input: '{"é":1,"\\u00E9":2}', expect: 'duplicate-key@15' },
    { input: '{"😀":1,"\\ud83d\\ude00":2}', expect: 'duplicate-key@23' },
    { input: '{"\\n":1,"\\u000a":2}', expect: 'duplicate-key@15' },
    { input: '{"a":{"b":1,"b":2}}', expect: 'duplicate-key@14' },
    { input: '[{"x":[],"y":{},"x":0}]', expect: 'duplicate-key@18' },
  ],
  'unsafe-key': [
    { input: '{"__proto__":{}}', expect: 'unsafe-key@11' },
    { input: '{"constructor":{"prototype":{}}}', expect: 'unsafe-key@13' },
    { input: '{"a":{"prototype":1}}', expect: 'unsafe-key@16' },
    { input: '[{"__pro\\u0074o__":1}]', expect: 'unsafe-key@17' },
    { input: '{"\\u005f\\u005fproto\\u005F\\u005F":1}', expect: 'unsafe-key@31' },
    { input: '{"\\u0063onstructor":1}', expect: 'unsafe-key@18' },
    { input: '{"prototyp\\u0065":1}', expect: 'unsafe-key@16' },
  ],
  encoding: [
    { input: Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), expect: 'encoding@0' }, // UTF-8 BOM
    { input: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), expect: 'encoding@0' }, // UTF-16 BOM
    { input: Buffer.from([0x22, 0xc0, 0x80, 0x22]), expect: 'encoding@1' }, // overlong NUL
    { input: Buffer.from([0x22, 0xc1, 0xbf, 0x22]), expect: 'encoding@1' }, // overlong 0x7F
    { input: Buffer.from([0x22, 0xe0, 0x80, 0x80, 0x22]), expect: 'encoding@2' }, // overlong 3-byte
    { input: Buffer.from([0x22, 0xf0, 0x80, 0x80, 0x80, 0x22]), expect: 'encoding@2' }, // overlong 4-byte
    { input: Buffer.from([0x22, 0x80, 0x22]), expect: 'encoding@1' }, // lone continuation
    { input: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), expect: 'encoding@2' }, // UTF-8 surrogate
    { input: Buffer.from([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]), expect: 'encoding@2' }, // > U+10FFFF
    { input: Buffer.from([0x22, 0xf5, 0x80, 0x80, 0x80, 0x22]), expect: 'encoding@1' },
    { input: Buffer.from([0x22, 0xff, 0x22]), expect: 'encoding@1' },
    { input: Buffer.from([0x22, 0xe2, 0x82, 0x22]), expect: 'encoding@3' }, // truncated by the quote
    { input: Buffer.from([0x22, 0xe2, 0x82]), expect: 'encoding@3' }, // truncated by the end
    { input: Buffer.from([0x7b, 0x22, 0xc3, 0x41, 0x22, 0x3a, 0x31, 0x7d]), expect: 'encoding@3' }, // in a key
    { input: '"\\ud800"', expect: 'encoding@7' },
    { input: '"\\udc00"', expect: 'encoding@6' },
    { input: '"\\ud800\\u0041"', expect: 'encoding@12' },
    { input: '"\\ud800\\ud800"', expect: 'encoding@12' },
    { input: '"\\ud800\\n"', expect: 'encoding@8' },
    { input: '{"\\uDBFFx":1}', expect: 'encoding@8' },
  ],
};

describe('JsonScanner: refusals (same verdict at every chunk split)', () => {
  for (const [reason, cases] of Object.entries(REFUSALS)) {
    for (const { input, expect, limits } of cases) {
      const label = typeof input === 'string' ? JSON.stringify(input) : input.toString('hex');
      it(`${reason}: ${label}${limits ? ` ${JSON.stringify(limits)}` : ''}`, () => {
        assert.equal(splitVerdict(input, { ...LARGE, ...limits }), expect);
        // A syntax refusal is one JSON.parse makes too.
        if (reason === 'syntax') assert.ok(!parses(bytes(input).toString('utf8')));
      });
    }
  }

  it('covers every reason', () => {
    const reasons: JsonScanReason[] = [
      'syntax',
      'depth',
      'keys',
      'items',
      'string',
      'duplicate-key',
      'unsafe-key',
      'encoding',
    ];
    for (const r of reasons) assert.ok((REFUSALS[r] ?? []).length > 0, r);
  });
});

describe('JsonScanner: streaming behaviour', () => {
  it('refuses a limit in the write() that passes it, not at end()', () => {
    const cases: [string, Partial<JsonLimits>, JsonScanReason][] = [
      ['[1,2,', { maxItems: 2 }, 'items'],
      ['{"a":1,"b"', { maxKeys: 1 }, 'keys'],
      ['[[[', { maxDepth: 2 }, 'depth'],
      ['"abcd', { maxStringBytes: 3 }, 'string'],
      ['{"a":1,"a"', {}, 'duplicate-key'],
      ['{"__proto__"', {}, 'unsafe-key'],
    ];
    for (const [text, limits, reason] of cases) {
      const scanner = new JsonScanner({ ...LARGE, ...limits });
      assert.throws(
        () => scanner.write(Buffer.from(text)),
        (err: unknown) => err instanceof JsonScanError && err.reason === reason,
        text,
      );
    }
  });

  it('refuses 100000 open brackets at maxDepth, without recursion', () => {
    const body = Buffer.from('['.repeat(100_000));
    assert.equal(verdict([body], { ...LARGE, maxDepth: 64 }), 'depth@64');
    // A deep but allowed document is walked without a stack: no RangeError.
    const balanced = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    assert.equal(verdict([balanced], { ...LARGE, maxDepth: 100_000 }), 'ok');
  });

  it('refuses a 10 MB string of digits at maxStringBytes, as soon as the chunk passes it', () => {
    const body = Buffer.alloc(10_000_002, 0x31);
    body[0] = 0x22;
    body[body.length - 1] = 0x22;
    const limits = { ...LARGE, maxStringBytes: 1024 * 1024 };
    assert.equal(verdict([body], limits), `string@${1 + 1024 * 1024}`);
    const scanner = new JsonScanner(limits);
    const size = 64 * 1024;
    let writes = 0;
    assert.throws(() => {
      for (let at = 0; at < body.length; at += size) {
        writes++;
        scanner.write(body.subarray(at, at + size));
      }
    }, JsonScanError);
    assert.equal(writes, Math.floor((1 + 1024 * 1024) / size) + 1);
  });

  it('keeps refusing after a refusal, and never echoes the body in the message', () => {
    const scanner = new JsonScanner(LARGE);
    const secret = '{"sk_live_secret":1,"sk_live_secret":2}';
    let first: unknown;
    try {
      scanner.write(Buffer.from(secret));
    } catch (err) {
      first = err;
    }
    assert.ok(first instanceof JsonScanError);
    assert.equal(first.reason, 'duplicate-key');
    assert.ok(!first.message.includes('sk_live'));
    assert.throws(
      () => scanner.write(Buffer.from('}')),
      (err: unknown) => err === first,
    );
    assert.throws(
      () => scanner.end(),
      (err: unknown) => err === first,
    );
  });

  it('frees the keys of a closed object: siblings and later objects may reuse names', () => {
    assert.equal(splitVerdict('[{"a":1,"b":2},{"a":3,"b":4},{"c":{"a":5}},{"a":6}]'), 'ok');
    assert.equal(splitVerdict('{"x":{"a":1},"y":{"a":2},"a":3}'), 'ok');
  });

  it('checks its limits and refuses a write after end()', () => {
    assert.throws(() => new JsonScanner({ ...LARGE, maxDepth: -1 }), RangeError);
    assert.throws(() => new JsonScanner({ ...LARGE, maxKeys: 1.5 }), RangeError);
    assert.doesNotThrow(() => new JsonScanner({ ...LARGE, maxItems: Number.POSITIVE_INFINITY }));
    const scanner = new JsonScanner(LARGE);
    scanner.write(Buffer.from('1'));
    scanner.end();
    assert.throws(() => scanner.write(Buffer.from(' ')), /after end/);
  });

  it('scanJson scans a whole body', () => {
    assert.doesNotThrow(() => scanJson(Buffer.from('{"a":[1,2,{"b":null}]}'), LARGE));
    assert.throws(
      () => scanJson(Buffer.from('{"a":1'), LARGE),
      (err: unknown) => err instanceof JsonScanError && err.reason === 'syntax' && err.offset === 6,
    );
  });
});

function hasUnsafeKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasUnsafeKey);
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([k, v]) => UNSAFE.has(k) || hasUnsafeKey(v));
}

// Pieces of JSON, so random strings are often (nearly) valid documents.
const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '/',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u000b',
  '-',
  '+',
  '.',
  'e',
  'E',
  '0',
  '1',
  '9',
  'u',
  'x',
  'é',
  '😀',
  '\u0000',
  '\u001f',
  '\ud800',
  'true',
  'false',
  'null',
  'nul',
  '"a"',
  '"b"',
  '"__proto__"',
  '"\\u0061"',
  '"\\ud83d\\ude00"',
  '"\\ud83d"',
  '\\u00e9',
  '\\n',
  '12.5e-3',
  '{"a":',
  '[1,',
];

/** A key written with every UTF-16 unit as a \uXXXX escape. */
function escapedKey(key: string): string {
  let out = '"';
  for (let k = 0; k < key.length; k++) out += `\\u${key.charCodeAt(k).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

describe('JsonScanner: key decoding', () => {
  it('finds a duplicate among many names, short and long, however it is spelled', () => {
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 80 })
          .filter((keys) => !keys.some((k) => UNSAFE.has(k))),
        fc.nat(),
        fc.boolean(),
        (keys, pick, escaped) => {
          const members = keys.map((k) => `${JSON.stringify(k)}:0`);
          const body = `{${members.join(',')}}`;
          assert.equal(verdict([Buffer.from(body)]), 'ok');
          const again = keys[pick % keys.length] as string;
          const dup = `{${members.join(',')},${escaped ? escapedKey(again) : JSON.stringify(again)}:1}`;
          const result = verdict([Buffer.from(dup)]);
          assert.equal(reasonOf(result), 'duplicate-key');
          assert.equal(Number(result.split('@')[1]), Buffer.byteLength(dup) - 4);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses every unsafe name written fully escaped', () => {
    for (const name of UNSAFE) assert.equal(reasonOf(splitVerdict(`{${escapedKey(name)}:1}`)), 'unsafe-key');
  });
});

/** `count` distinct names of `bytes` bytes each ("k" then digits, padded with "x"). */
function names(count: number, bytes: number): string[] {
  return Array.from({ length: count }, (_, k) => `k${k}`.padEnd(bytes, 'x'));
}

function objectOf(keys: readonly string[]): string {
  return `{${keys.map((k) => `${JSON.stringify(k)}:0`).join(',')}}`;
}

describe('JsonScanner: small and large objects', () => {
  // Up to 16 keys of up to 32 bytes are compared as bytes; past either bound an object's names
  // move into a Set. A repeat must be found the same on both sides and across the move.
  it('finds a repeat before, at and after the move to a Set, for short and long names', () => {
    for (const bytes of [1, 31, 32, 33, 40]) {
      for (const count of [1, 2, 15, 16, 17, 40]) {
        const keys =
          bytes === 1 ? names(count, 1).map((_, k) => String.fromCharCode(0x41 + k)) : names(count, bytes);
        assert.equal(verdict([Buffer.from(objectOf(keys))]), 'ok', `${count} x ${bytes}`);
        for (const again of [0, count - 1]) {
          const body = `${objectOf(keys).slice(0, -1)},${JSON.stringify(keys[again])}:1}`;
          assert.equal(
            splitVerdict(body),
            `duplicate-key@${Buffer.byteLength(body) - 4}`,
            `${count} x ${bytes}`,
          );
        }
      }
    }
  });

  it('keeps a parent’s names while children open and close, small or large', () => {
    const big = objectOf(names(20, 4));
    const long = objectOf(names(2, 40));
    for (const child of ['{}', '{"a":1}', big, long, `[${big},${long}]`, `{"x":${big}}`]) {
      assert.equal(splitVerdict(`{"a":${child},"b":${child},"c":1}`), 'ok', child);
      const dup = `{"a":${child},"b":${child},"a":1}`;
      assert.equal(splitVerdict(dup), `duplicate-key@${Buffer.byteLength(dup) - 4}`, child);
    }
    // A large parent, small children with its names, then a repeat in the parent.
    const parent = names(20, 4).map((k) => `"${k}":{"${k}":1}`);
    assert.equal(splitVerdict(`{${parent.join(',')}}`), 'ok');
    const dup = `{${parent.join(',')},"k7xx":2}`;
    assert.equal(splitVerdict(dup), `duplicate-key@${Buffer.byteLength(dup) - 4}`);
  });

  it('gives the same verdicts when scanners take turns (they share a spare key arena)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).filter((v) => !hasUnsafeKey(v)),
            fc.boolean(),
            fc.integer({ min: 1, max: 7 }),
          ),
          { minLength: 2, maxLength: 4 },
        ),
        (docs) => {
          // Some bodies repeat their last key, so some scanners are refused halfway.
          const bodies = docs.map(([value, repeat]) => {
            const text = JSON.stringify({ first: value, last: value });
            return Buffer.from(repeat ? `${text.slice(0, -1)},"last":0}` : text);
          });
          const alone = bodies.map((body) => verdict([body]));
          const scanners = bodies.map(() => new JsonScanner(LARGE));
          const results: string[] = bodies.map(() => '');
          const at = bodies.map(() => 0);
          for (let busy = true; busy; ) {
            busy = false;
            bodies.forEach((body, k) => {
              if (results[k] !== '') return;
              busy = true;
              const step = (docs[k] as [unknown, boolean, number])[2];
              try {
                if (at[k] === body.length) {
                  (scanners[k] as JsonScanner).end();
                  results[k] = 'ok';
                } else {
                  const to = Math.min(body.length, (at[k] as number) + step);
                  (scanners[k] as JsonScanner).write(body.subarray(at[k], to));
                  at[k] = to;
                }
              } catch (err) {
                if (!(err instanceof JsonScanError)) throw err;
                results[k] = `${err.reason}@${err.offset}`;
              }
            });
          }
          assert.deepEqual(results, alone);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// Strings of mostly non-ASCII bytes, valid or not: bytes around every UTF-8 boundary.
const UTF8_BYTES = [
  0x41, 0x22, 0x5c, 0x6e, 0x1f, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
  0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
];

describe('JsonScanner: UTF-8 checked a chunk at a time', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }).map((s) => Buffer.from(s, 'utf8')),
    fc.array(fc.constantFrom(...UTF8_BYTES), { maxLength: 30 }).map((b) => Buffer.from(b)),
  );

  it('places every refusal as the byte-per-byte state machine does', () => {
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(), (parts, cut, max) => {
        // Several strings in one chunk: the native check covers all of them at once.
        const body = Buffer.concat([
          Buffer.from('["'),
          ...parts.flatMap((p, k) => (k === 0 ? [p] : [Buffer.from('","'), p])),
          Buffer.from('"]'),
        ]);
        const limits = { ...LARGE, maxStringBytes: max % 40 };
        const single: Uint8Array[] = [];
        for (let k = 0; k < body.length; k++) single.push(body.subarray(k, k + 1));
        const expected = verdict(single, limits);
        assert.equal(verdict([body], limits), expected);
        const at = cut % (body.length + 1);
        assert.equal(verdict([body.subarray(0, at), body.subarray(at)], limits), expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts long valid text, whole or cut inside a character', () => {
    const body = Buffer.from(JSON.stringify({ note: 'Blåbærsyltetøy, 中文字符, 😀 '.repeat(50) }));
    for (let at = 0; at <= body.length; at += 7)
      assert.equal(verdict([body.subarray(0, at), body.subarray(at)]), 'ok', `split at ${at}`);
  });
});

describe('JsonScanner: properties', () => {
  it('accepts whatever JSON.stringify writes (compact or indented, split anywhere)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }).filter((v) => !hasUnsafeKey(v)),
        fc.boolean(),
        fc.nat(),
        (value, indent, cut) => {
          const body = Buffer.from(JSON.stringify(value, null, indent ? 2 : undefined), 'utf8');
          const at = cut % (body.length + 1);
          assert.equal(verdict([body.subarray(0, at), body.subarray(at)]), 'ok');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never lets through what JSON.parse refuses (arbitrary strings)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        const body = Buffer.from(text, 'utf8');
        if (verdict([body]) === 'ok') assert.ok(parses(body.toString('utf8')));
      }),
      { numRuns: 1000 },
    );
  });

  /** Scanner and JSON.parse agree, except where the scanner refuses valid JSON on purpose. */
  function agreesWithParse(body: Buffer, cut: number): void {
    const whole = verdict([body]);
    const parsed = parses(body.toString('utf8'));
    if (whole === 'ok') assert.ok(parsed, 'scanner accepted what JSON.parse refuses');
    else if (parsed) assert.ok(ON_PURPOSE.has(reasonOf(whole)), `refused valid JSON: ${whole}`);
    const at = cut % (body.length + 1);
    assert.equal(verdict([body.subarray(0, at), body.subarray(at)]), whole);
  }
  const ON_PURPOSE = new Set(['duplicate-key', 'unsafe-key', 'encoding']);

  it('agrees with JSON.parse on strings made of JSON pieces', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 24 }), fc.nat(), (parts, cut) =>
        agreesWithParse(Buffer.from(parts.join(''), 'utf8'), cut),
      ),
      { numRuns: 3000 },
    );
  });

  it('agrees with JSON.parse on valid JSON with one byte deleted, replaced or inserted', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
        fc.nat(),
        fc.constantFrom('delete', 'replace', 'insert'),
        fc.constantFrom(...TOKENS),
        fc.nat(),
        (value, where, edit, token, cut) => {
          const text = JSON.stringify(value);
          const at = where % (text.length + 1);
          const tail = edit === 'insert' ? text.slice(at) : text.slice(at + 1);
          const mutated = edit === 'delete' ? text.slice(0, at) + tail : text.slice(0, at) + token + tail;
          agreesWithParse(Buffer.from(mutated, 'utf8'), cut);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
