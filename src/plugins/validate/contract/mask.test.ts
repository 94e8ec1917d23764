import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateApiKey } from '../../authenticate/api-key/format.js';
import {
  ALL_PATTERNS,
  createMasker,
  DEFAULT_KEEP_NAMES,
  DEFAULT_PATTERNS,
  DEFAULT_SENSITIVE_NAMES,
  ibanChecksumValid,
  luhnValid,
  type MaskOptions,
  MaskOptionsError,
  type MaskPattern,
  normalizeFieldName,
} from './mask.js';

const R = '[REDACTED]';

function masker(patterns: readonly MaskPattern[] = ALL_PATTERNS, extra: Partial<MaskOptions> = {}) {
  return createMasker({ names: DEFAULT_SENSITIVE_NAMES, patterns, replacement: R, ...extra });
}

/** Masks one string with only the given pattern enabled. */
function maskWith(pattern: MaskPattern, text: string): string {
  return createMasker({ names: [], patterns: [pattern], replacement: R }).mask(text).value as string;
}

function assertKept(pattern: MaskPattern, texts: readonly string[]): void {
  for (const text of texts) assert.equal(maskWith(pattern, text), text, `${pattern} must keep ${text}`);
}

/** A Luhn-valid number: the given digits plus the check digit. */
function withCheckDigit(digits: string): string {
  for (let d = 0; d <= 9; d++) {
    const candidate = `${digits}${d}`;
    if (luhnValid(candidate, 0, candidate.length)) return candidate;
  }
  throw new Error('unreachable');
}

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('mask: field names', () => {
  it('normalizes names: case, "_", "-" and spaces do not matter', () => {
    assert.equal(normalizeFieldName('API-KEY'), 'apikey');
    assert.equal(normalizeFieldName('api_key'), 'apikey');
    assert.equal(normalizeFieldName('Api Key'), 'apikey');
    const m = createMasker({ names: ['apiKey'], patterns: [], replacement: R });
    const { value, masked } = m.mask({
      api_key: 'a',
      apiKey: 'b',
      'API-KEY': 'c',
      'api key': 'd',
      apikeys: 'e',
    });
    assert.deepEqual(value, { api_key: R, apiKey: R, 'API-KEY': R, 'api key': R, apikeys: 'e' });
    assert.equal(masked, 4);
  });

  it('strong words also match as a suffix; other names only match exactly', () => {
    const value = {
      userPassword: 'hunter2',
      github_token: 'x',
      clientSecret: 's',
      db_private_key: 'k',
      partnerApiKey: 'k',
      pin: '1234',
      ssn: '123456789',
    };
    const out = masker([]).mask(value);
    assert.deepEqual(out.value, {
      userPassword: R,
      github_token: R,
      clientSecret: R,
      db_private_key: R,
      partnerApiKey: R,
      pin: R,
      ssn: R,
    });
    assert.equal(out.masked, 7);
  });

  it('does not match names where a strong word is only a prefix or a middle part', () => {
    const value = {
      tokenType: 'Bearer',
      passwordPolicy: { minLength: 12 },
      secretary: 'Ann',
      tokens: 3,
      pinned: true,
      spinner: 'x',
      passwordResetRequired: false,
      secretsCount: 2,
    };
    const copy = structuredClone(value);
    const out = masker([]).mask(value);
    assert.deepEqual(out.value, copy);
    assert.equal(out.masked, 0);
  });

  it('replaces the value of a matching field whatever its type', () => {
    const out = masker([]).mask({
      password: { hash: 'x', salt: 'y' },
      token: ['a', 'b'],
      secret: 42,
      pwd: null,
      cvv: true,
    });
    assert.deepEqual(out.value, { password: R, token: R, secret: R, pwd: R, cvv: R });
    assert.equal(out.masked, 5);
  });

  it('masks in place, through nested arrays and objects, and counts every leaf', () => {
    const body = {
      data: [
        { id: 1, owner: { email: 'ann@example.com', apiKey: 'k1' }, note: 'card 4111 1111 1111 1111' },
        { id: 2, owner: { email: 'bob@example.com', apiKey: 'k2' }, tags: [['ssn 123-45-6789'], 'plain'] },
      ],
      meta: { accessToken: { value: 'x' }, count: 2 },
    };
    const out = masker(DEFAULT_PATTERNS).mask(body);
    assert.equal(out.value, body, 'the same object comes back: masking is in place');
    assert.deepEqual(body, {
      data: [
        { id: 1, owner: { email: 'ann@example.com', apiKey: R }, note: 'card **** **** **** 1111' },
        { id: 2, owner: { email: 'bob@example.com', apiKey: R }, tags: [['ssn ***-**-6789'], 'plain'] },
      ],
      meta: { accessToken: R, count: 2 },
    });
    assert.equal(out.masked, 5);
  });

  it('masks a string at the root by returning a new value', () => {
    assert.deepEqual(masker().mask('4111111111111111'), { value: '************1111', masked: 1 });
    assert.deepEqual(masker().mask(42), { value: 42, masked: 0 });
    assert.deepEqual(masker().mask(null), { value: null, masked: 0 });
  });

  it('handles a "__proto__" key from JSON.parse as plain data, without touching prototypes', () => {
    const body = JSON.parse('{"__proto__":{"password":"x","note":"4111111111111111"},"ok":true}') as Record<
      string,
      unknown
    >;
    const out = masker().mask(body);
    assert.equal(out.masked, 2);
    assert.equal(Object.getPrototypeOf(body), Object.prototype);
    const inner = Object.getOwnPropertyDescriptor(body, '__proto__')?.value as Record<string, unknown>;
    assert.deepEqual({ ...inner }, { password: R, note: '************1111' });
    assert.equal(({} as Record<string, unknown>).password, undefined);
  });

  it('never rewrites object keys; numbers only when they are Luhn-valid card numbers', () => {
    const body = {
      '4111111111111111': 4111111111111111,
      'ann@example.com': 'x',
      order: 1234567890123,
      n: 42,
    };
    const out = masker().mask(body);
    assert.equal(out.masked, 1);
    assert.deepEqual(Object.keys(body), ['4111111111111111', 'ann@example.com', 'order', 'n']);
    assert.deepEqual(body, {
      '4111111111111111': '************1111',
      'ann@example.com': 'x',
      order: 1234567890123,
      n: 42,
    });
  });
});

describe('mask: depth limit', () => {
  it('replaces a container deeper than maxDepth with the replacement and counts it once', () => {
    const body = { a: { b: { c: { d: 'secret stuff' }, s: 'x' } } };
    const out = masker([], { maxDepth: 2 }).mask(body);
    assert.deepEqual(out.value, { a: { b: { c: R, s: 'x' } } });
    assert.equal(out.masked, 1);
  });

  it('survives very deep input without recursing past the limit (default 64)', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const out = masker().mask(deep);
    assert.equal(out.masked, 1);
    let node = out.value;
    let depth = 0;
    while (Array.isArray(node)) {
      node = node[0];
      depth++;
    }
    assert.equal(depth, 65, 'containers at depth 0..64 are kept');
    assert.equal(node, R);
  });
});

describe('mask: card numbers', () => {
  it('masks Luhn-valid numbers, grouped or not, keeping the last 4 digits and the layout', () => {
    assert.equal(maskWith('card-number', '4111111111111111'), '************1111');
    assert.equal(maskWith('card-number', '4111 1111 1111 1111'), '**** **** **** 1111');
    assert.equal(maskWith('card-number', '5500-0000-0000-0004'), '****-****-****-0004');
    assert.equal(maskWith('card-number', '378282246310005'), '***********0005');
    assert.equal(maskWith('card-number', '3782 822463 10005'), '**** ****** *0005');
    assert.equal(maskWith('card-number', '4222222222222'), '*********2222');
  });

  it('masks numbers embedded in text, several per string', () => {
    assert.equal(
      maskWith('card-number', 'paid with 4111 1111 1111 1111 today'),
      'paid with **** **** **** 1111 today',
    );
    assert.equal(
      maskWith('card-number', 'cards: 4111111111111111, 5500000000000004.'),
      'cards: ************1111, ************0004.',
    );
    assert.equal(
      maskWith('card-number', 'on 2024-01-15 4111 1111 1111 1111'),
      'on 2024-01-15 **** **** **** 1111',
    );
  });

  it('keeps digit strings that fail Luhn (order ids), dates, phone numbers and decimals', () => {
    assert.equal(luhnValid('1234567890123', 0, 13), false);
    assert.equal(luhnValid('4111111111111112', 0, 16), false);
    assertKept('card-number', [
      '1234567890123',
      'order 1234567890123 shipped',
      '4111111111111112',
      '4111 1111 1111 1112',
      '2024-01-15',
      '2024-01-15T10:20:30.123456789Z',
      '+1 (555) 123-4567',
      '+1 555-123-4567',
      '+44 20 7946 0958',
      '+4111111111111111',
      '0.4111111111111111',
      '4111111111111111.25',
      '1 2 3 4 5 6 7 8 9 1 2 3 0',
      'ID4111111111111111',
      '41111111111111111111111',
    ]);
  });

  it('property: any Luhn-valid 16-digit number in text loses all but its last 4 digits', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[1-9][0-9]{14}$/),
        fc.constantFrom('', ' ', '-'),
        fc.constantFrom('paid with ', '', 'card: ', '('),
        fc.constantFrom(' today', '', '.', ')'),
        (digits, sep, before, after) => {
          const card = withCheckDigit(digits);
          const shown = sep === '' ? card : (card.match(/.{4}/g) as string[]).join(sep);
          const text = `${before}${shown}${after}`;
          const out = masker(['card-number']).mask(text);
          const value = out.value as string;
          assert.equal(out.masked, 1);
          assert.ok(!value.replace(/[^0-9]/g, '').includes(card.slice(0, 12)));
          assert.ok(value.endsWith(`${card.slice(12)}${after}`));
          assert.ok(value.startsWith(before));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: a lone 16-digit number failing Luhn is never changed', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{16}$/), (digits) => {
        fc.pre(!luhnValid(digits, 0, 16));
        assert.equal(maskWith('card-number', digits), digits);
      }),
      { numRuns: 300 },
    );
  });
});

describe('mask: US SSN', () => {
  it('masks ddd-dd-dddd keeping the serial', () => {
    assert.equal(maskWith('us-ssn', '123-45-6789'), '***-**-6789');
    assert.equal(maskWith('us-ssn', 'SSN: 078-05-1120.'), 'SSN: ***-**-1120.');
  });

  it('keeps impossible numbers and look-alikes', () => {
    assertKept('us-ssn', [
      '000-12-3456',
      '666-12-3456',
      '900-12-3456',
      '123-00-4567',
      '123-45-0000',
      '123456789',
      '1-123-45-6789',
      '123-45-6789-0',
      'a123-45-6789',
      '123-45-67890',
      '2024-01-15',
      '555-123-4567',
    ]);
  });
});

describe('mask: IBAN', () => {
  it('validates mod-97', () => {
    assert.equal(ibanChecksumValid('DE89370400440532013000'), true);
    assert.equal(ibanChecksumValid('DE88370400440532013000'), false);
  });

  it('masks compact and grouped IBANs keeping the country and the last 4', () => {
    assert.equal(maskWith('iban', 'DE89370400440532013000'), 'DE****************3000');
    assert.equal(maskWith('iban', 'GB82WEST12345698765432'), 'GB****************5432');
    assert.equal(
      maskWith('iban', 'IBAN: DE89 3704 0044 0532 0130 00 (main)'),
      'IBAN: DE** **** **** **** **30 00 (main)',
    );
    assert.equal(maskWith('iban', 'GB82 WEST 1234 5698 7654 32 IS'), 'GB** **** **** **** **54 32 IS');
    assert.equal(maskWith('iban', 'NO9386011117947'), 'NO*********7947');
  });

  it('keeps strings that fail the checksum or the shape', () => {
    assertKept('iban', [
      'DE88370400440532013000',
      'DE89 3704 0044 0532 0130 01',
      'de89370400440532013000',
      'XDE89370400440532013000',
      'DE89370400440532013000X1',
      'DE8937040044',
      'AB12 CDEF',
      'SKU AB12CDEF3456GH789',
    ]);
  });
});

describe('mask: JWT', () => {
  it('replaces whole tokens, alone or in text', () => {
    assert.equal(maskWith('jwt', JWT), R);
    assert.equal(
      maskWith('jwt', `Authorization: Bearer ${JWT} (expired)`),
      `Authorization: Bearer ${R} (expired)`,
    );
    assert.equal(maskWith('jwt', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.'), R);
    assert.equal(maskWith('jwt', `${JWT}.AAAA.BBBB`), R, 'JWE has five segments');
  });

  it('keeps look-alikes', () => {
    assertKept('jwt', [
      'eyJ',
      'eyJhbGciOiJIUzI1NiJ9',
      'eyJhbGciOiJIUzI1NiJ9.',
      'a.b.c',
      'abc.def.ghi',
      'xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
      'version 1.2.3',
    ]);
  });
});

describe('mask: api keys', () => {
  it('replaces well-known prefixed secrets', () => {
    const pcl = generateApiKey().key;
    for (const secret of [
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      'rk_live_51H8abcdefghijklmnopqrstu',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
      'gho_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
      'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
      'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp',
      'xoxp-1234567890-abcdefghij',
      pcl,
    ]) {
      assert.equal(maskWith('api-key', secret), R, secret.slice(0, 5));
      assert.equal(maskWith('api-key', `key="${secret}";`), `key="${R}";`, secret.slice(0, 5));
    }
  });

  it('keeps prefixes without a secret behind them, and prefixes glued to a word', () => {
    assertKept('api-key', [
      'sk_live_',
      'sk_live_short',
      'pk_live_4eC39HqLyjWDarjtT1zdp7dc',
      'task_live_4eC39HqLyjWDarjtT1zdp7dc',
      'AKIAIOSFODNN7EXAMP',
      'AKIAIOSFODNN7EXAMPLE12',
      'XAKIAIOSFODNN7EXAMPLE',
      'ghp_short',
      'xoxz-1234567890-abcdefghij',
      'pcl_not_a_key',
      'npc_dialogue_line_that_is_long_enough_to_matter',
    ]);
  });
});

describe('mask: private keys', () => {
  it('replaces PEM private key blocks, including a truncated one', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    assert.equal(maskWith('private-key', pem), R);
    assert.equal(maskWith('private-key', `key:\n${pem}\nend`), `key:\n${R}\nend`);
    assert.equal(
      maskWith('private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA'),
      R,
      'no END line: masked to the end',
    );
    assert.equal(
      maskWith('private-key', '-----BEGIN EC PRIVATE KEY-----\nAA\n-----END EC PRIVATE KEY-----'),
      R,
    );
  });

  it('keeps public material', () => {
    assertKept('private-key', [
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----',
      'PRIVATE KEY',
      '-----BEGIN ',
    ]);
  });
});

describe('mask: emails', () => {
  it('masks the local part except its first character', () => {
    assert.equal(maskWith('email', 'john.doe@example.com'), 'j***@example.com');
    assert.equal(
      maskWith('email', 'Contact: a+tag@mail.example.co.uk.'),
      'Contact: a***@mail.example.co.uk.',
    );
    assert.equal(maskWith('email', 'x@a.io, yy@b.io'), 'x***@a.io, y***@b.io');
  });

  it('keeps non-addresses', () => {
    assertKept('email', [
      '@example.com',
      'user@',
      'user@localhost',
      'a@b.c',
      'at @ sign',
      'user@1.2.3.4',
      'x@-a.com',
      'a@example.com_x',
      `${'a'.repeat(65)}@example.com`,
    ]);
  });

  it('is off by default: emails are usually legitimate data', () => {
    assert.ok(!DEFAULT_PATTERNS.includes('email'));
    assert.deepEqual(masker(DEFAULT_PATTERNS).mask('ann@example.com'), {
      value: 'ann@example.com',
      masked: 0,
    });
  });
});

describe('mask: options', () => {
  it('refuses unusable options with a coded error that does not echo them', () => {
    const bad: MaskOptions[] = [
      { names: [], patterns: ['credit-card-secret' as MaskPattern], replacement: R },
      { names: ['_-'], patterns: [], replacement: R },
      { names: [], patterns: [], replacement: R, maxDepth: -1 },
      { names: [], patterns: [], replacement: R, maxDepth: 1.5 },
      { names: [], patterns: [], replacement: 7 as unknown as string },
    ];
    for (const options of bad) {
      assert.throws(
        () => createMasker(options),
        (err: unknown) =>
          err instanceof MaskOptionsError &&
          err.code === 'MASK_OPTIONS_INVALID' &&
          !err.message.includes('credit-card-secret'),
      );
    }
  });

  it('uses the configured replacement for names and whole secrets', () => {
    const m = createMasker({ names: ['password'], patterns: ['jwt'], replacement: '***' });
    assert.deepEqual(m.mask({ password: 'x', t: JWT }).value, { password: '***', t: '***' });
  });
});

describe('mask: robustness', () => {
  const fragments = [
    '4111 1111 1111 1111',
    '4111111111111112',
    '123-45-6789',
    'DE89 3704 0044 0532 0130 00',
    'GB82WEST12345698765432',
    JWT,
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
    'AKIAIOSFODNN7EXAMPLE',
    'john@example.com',
    '-----BEGIN RSA PRIVATE KEY-----\nAA\n-----END RSA PRIVATE KEY-----',
    ' ',
    '-',
    '.',
    '@',
    'eyJ',
    '12',
    '2024',
    'x',
  ];
  const text = fc.array(fc.constantFrom(...fragments), { maxLength: 12 }).map((parts) => parts.join(''));
  const body = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.integer(),
      fc.constant(null),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('password', 'note', 'tokenType', 'id', 'api_key', 'items'), tie('node'), {
        maxKeys: 4,
        noNullPrototype: true,
      }),
    ),
  })).node;

  it('property: never throws and a second pass changes nothing (idempotent)', () => {
    fc.assert(
      fc.property(body, (value) => {
        const m = masker();
        const first = m.mask(structuredClone(value)); // a clone: fast-check reports the original
        const snapshot = structuredClone(first.value);
        const second = m.mask(first.value);
        assert.equal(second.masked, 0);
        assert.deepEqual(second.value, snapshot);
      }),
      { numRuns: 300 },
    );
  });

  it('property: arbitrary JSON never throws', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        masker().mask(value);
      }),
      { numRuns: 300 },
    );
  });

  it('scans adversarial strings in linear time', () => {
    const size = 200_000;
    const inputs = [
      '4111 '.repeat(size / 5),
      '4'.repeat(size),
      '123-45-'.repeat(size / 7),
      'AB12 '.repeat(size / 5),
      'DE89'.repeat(size / 4),
      'eyJ'.repeat(size / 3),
      `eyJ${'a'.repeat(20)}.`.repeat(size / 24),
      'xoxb-'.repeat(size / 5),
      'sk_live_'.repeat(size / 8),
      '@'.repeat(size),
      'a@'.repeat(size / 2),
      'a.'.repeat(size / 2),
      '-----BEGIN '.repeat(size / 11),
      `-----BEGIN PRIVATE KEY-----${'-----END '.repeat(size / 9)}`,
    ];
    const m = masker();
    for (const input of inputs) {
      const started = process.hrtime.bigint();
      m.mask(input);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ms < 1000, `${input.slice(0, 12)}… took ${ms.toFixed(0)} ms`);
    }
  });
});

describe('mask: keep list', () => {
  it('pagination cursors ending in "token" stay readable; real tokens and exact names are still masked', () => {
    const m = createMasker({
      names: [...DEFAULT_SENSITIVE_NAMES],
      patterns: [],
      replacement: '[REDACTED]',
      keep: [...DEFAULT_KEEP_NAMES],
    });
    const { value, masked } = m.mask({
      nextPageToken: 'abc',
      next_token: 'def',
      githubToken: 'g',
      accessToken: 'h',
    });
    assert.deepEqual(value, {
      nextPageToken: 'abc',
      next_token: 'def',
      githubToken: '[REDACTED]',
      accessToken: '[REDACTED]',
    });
    assert.equal(masked, 2);
    // An exact sensitive name wins over the keep list.
    const strict = createMasker({
      names: ['nextToken'],
      patterns: [],
      replacement: 'x',
      keep: ['nextToken'],
    });
    assert.deepEqual(strict.mask({ nextToken: 'v' }).value, { nextToken: 'x' });
  });
});
