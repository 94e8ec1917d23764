import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ReplayCache } from '../../../stores/types.js';
import type { Algorithm } from './algorithms.js';
import { viewOf } from './base.js';
import { contentDigest } from './digest.js';
import { type SignOptions, signRequest } from './sign.js';
import { createVerifier, type Outcome, type VerifierSettings } from './verifier.js';

const NOW = 1_700_000_000;
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const secret = randomBytes(32);
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

const KEYS: Record<string, { algorithm: Algorithm; priv: KeyObject | Buffer }> = {
  'k-ed': { algorithm: 'ed25519', priv: ed.privateKey },
  'k-ec': { algorithm: 'ecdsa-p256-sha256', priv: ec.privateKey },
  'k-pss': { algorithm: 'rsa-pss-sha512', priv: rsa.privateKey },
  'k-v15': { algorithm: 'rsa-v1_5-sha256', priv: rsa.privateKey },
  'k-hmac': { algorithm: 'hmac-sha256', priv: secret },
};

function settings(over: Partial<VerifierSettings> = {}): VerifierSettings {
  return {
    keys: {
      'k-ed': {
        algorithm: 'ed25519',
        publicKey: pem(ed.publicKey),
        consumer: 'acme',
        roles: ['svc'],
        scopes: ['read'],
      },
      'k-ec': {
        algorithm: 'ecdsa-p256-sha256',
        publicKey: ec.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
        roles: [],
        scopes: [],
      },
      'k-pss': { algorithm: 'rsa-pss-sha512', publicKey: pem(rsa.publicKey), roles: [], scopes: [] },
      'k-v15': { algorithm: 'rsa-v1_5-sha256', publicKey: pem(rsa.publicKey), roles: [], scopes: [] },
      'k-hmac': {
        algorithm: 'hmac-sha256',
        secret: secret.toString('base64'),
        roles: [],
        scopes: [],
        tenant: 't1',
      },
    },
    requiredComponents: ['@method', '@authority', '@path', 'content-digest'],
    maxAgeSeconds: 300,
    clockSkewSeconds: 30,
    requireNonce: false,
    label: '',
    digestAlgorithms: ['sha-256', 'sha-512'],
    ...over,
  };
}

class FakeReplay implements ReplayCache {
  seen = new Map<string, number>();
  async claim(key: string, ttlMs: number): Promise<boolean> {
    if (this.seen.has(key)) return false;
    this.seen.set(key, ttlMs);
    return true;
  }
  async close(): Promise<void> {}
}

interface Req {
  method?: string;
  target?: string;
  headers?: [string, string][];
  body?: string;
}

const BODY = '{"amount": 10}';

function message(r: Req = {}) {
  const body = r.body ?? BODY;
  const headers: [string, string][] = r.headers ?? [
    ['Host', 'api.example.com'],
    ['Content-Type', 'application/json'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Content-Digest', contentDigest(Buffer.from(body), 'sha-256')],
  ];
  return viewOf(r.method ?? 'POST', 'https', r.target ?? '/pay?x=1', headers.flat());
}

function signed(keyid: string, opts: Partial<SignOptions> = {}, r: Req = {}) {
  const k = KEYS[keyid];
  assert.ok(k);
  return signRequest(message(r), {
    keyid,
    algorithm: k.algorithm,
    key: k.priv,
    components: ['@method', '@authority', '@path', 'content-digest'],
    created: NOW - 10,
    ...opts,
  });
}

async function run(
  headers: { signatureInput: string | undefined; signature: string | undefined },
  opts: {
    settings?: Partial<VerifierSettings>;
    req?: Req;
    body?: string;
    replay?: ReplayCache;
    now?: number;
  } = {},
): Promise<Outcome> {
  const replay = opts.replay ?? new FakeReplay();
  const verify = createVerifier(settings(opts.settings), {
    replay: () => replay,
    now: () => (opts.now ?? NOW) * 1000,
  });
  const body = opts.body ?? opts.req?.body ?? BODY;
  return verify({
    view: message(opts.req),
    signatureInput: headers.signatureInput,
    signature: headers.signature,
    hasBody: body.length > 0,
    readBody: async () => Buffer.from(body),
  });
}

const failsWith = async (p: Promise<Outcome>, reason: string, keyid?: string) => {
  const o = await p;
  assert.equal(o.ok, false, `expected ${reason}`);
  if (!o.ok) {
    assert.equal(o.reason, reason);
    assert.equal(o.keyid, keyid);
  }
};

describe('http-signature verifier', () => {
  for (const keyid of Object.keys(KEYS)) {
    it(`accepts a good ${KEYS[keyid]?.algorithm} signature`, async () => {
      const o = await run(signed(keyid));
      assert.equal(o.ok, true, JSON.stringify(o));
    });
  }

  it('builds the principal from the registered key', async () => {
    const o = await run(signed('k-ed'));
    assert.ok(o.ok);
    assert.deepEqual(
      { ...o.principal },
      {
        id: 'sig:k-ed',
        kind: 'service',
        subject: 'acme',
        consumer: 'acme',
        roles: ['svc'],
        scopes: ['read'],
        claims: { keyid: 'k-ed', alg: 'ed25519' },
        credentialId: 'k-ed',
        method: 'http-signature',
      },
    );
    assert.ok(Object.isFrozen(o.principal));
    const h = await run(signed('k-hmac'));
    assert.ok(h.ok);
    assert.equal(h.principal.subject, 'k-hmac');
    assert.equal(h.principal.tenant, 't1');
  });

  it('accepts @target-uri in place of @authority and @path', async () => {
    const o = await run(signed('k-ed', { components: ['@method', '@target-uri', 'content-digest'] }));
    assert.equal(o.ok, true);
  });

  it('refuses a tampered body, header, path or method', async () => {
    const s = signed('k-ed');
    await failsWith(run(s, { body: '{"amount": 1000}' }), 'digest_mismatch', 'k-ed');
    await failsWith(run(s, { req: { target: '/refund?x=1' } }), 'bad_signature', 'k-ed');
    await failsWith(run(s, { req: { method: 'PUT' } }), 'bad_signature', 'k-ed');
    const other = Buffer.from('{"amount": 99}');
    await failsWith(
      run(s, {
        req: {
          body: '{"amount": 99}',
          headers: [
            ['Host', 'api.example.com'],
            ['Content-Length', '14'],
            ['Content-Digest', contentDigest(other, 'sha-256')],
          ],
        },
      }),
      'bad_signature',
      'k-ed',
    );
  });

  it('protects the query only when it is covered (@query or @target-uri)', async () => {
    // The default requirements name @path, not @query: a changed query still verifies...
    assert.equal((await run(signed('k-ed'), { req: { target: '/pay?x=2' } })).ok, true);
    // ...unless the signature covers it.
    const q = signed('k-ed', { components: ['@method', '@authority', '@path', '@query', 'content-digest'] });
    await failsWith(run(q, { req: { target: '/pay?x=2' } }), 'bad_signature', 'k-ed');
    const t = signed('k-ed', { components: ['@method', '@target-uri', 'content-digest'] });
    await failsWith(run(t, { req: { target: '/pay?x=2' } }), 'bad_signature', 'k-ed');
    await failsWith(
      run(signed('k-ed'), { settings: { requiredComponents: ['@method', '@authority', '@path', '@query'] } }),
      'missing_component',
      'k-ed',
    );
  });

  it('refuses a signature outside its time window', async () => {
    await failsWith(run(signed('k-ed', { created: NOW - 301 })), 'too_old', 'k-ed');
    await failsWith(run(signed('k-ed', { created: NOW + 31 })), 'future_created', 'k-ed');
    assert.equal((await run(signed('k-ed', { created: NOW + 29 }))).ok, true);
    await failsWith(run(signed('k-ed', { created: NOW - 100, expires: NOW - 31 })), 'expired', 'k-ed');
    assert.equal((await run(signed('k-ed', { expires: NOW + 60 }))).ok, true);
    await failsWith(run(signed('k-ed', { created: NOW - 10, expires: NOW - 20 })), 'malformed', 'k-ed');
  });

  it('requires created', async () => {
    const s = signed('k-ed');
    const input = s.signatureInput.replace(/;created=\d+/, '');
    await failsWith(run({ signatureInput: input, signature: s.signature }), 'malformed', 'k-ed');
  });

  it('claims every nonce once, and refuses a replay', async () => {
    const replay = new FakeReplay();
    const s = signed('k-ed', { nonce: 'n-123' });
    assert.equal((await run(s, { replay })).ok, true);
    assert.equal(replay.seen.get('sig:k-ed:n-123'), (300 + 30) * 1000);
    await failsWith(run(s, { replay }), 'replayed_nonce', 'k-ed');
  });

  it('does not burn a nonce on a request that fails verification', async () => {
    const replay = new FakeReplay();
    const s = signed('k-ed', { nonce: 'n-1' });
    await failsWith(run(s, { replay, body: 'tampered' }), 'digest_mismatch', 'k-ed');
    assert.equal(replay.seen.size, 0);
  });

  it('requireNonce refuses a signature without one', async () => {
    await failsWith(run(signed('k-ed'), { settings: { requireNonce: true } }), 'missing_component', 'k-ed');
    assert.equal(
      (await run(signed('k-ed', { nonce: 'abc' }), { settings: { requireNonce: true } })).ok,
      true,
    );
  });

  it('fails closed (unavailable) when the replay store cannot answer', async () => {
    const broken: ReplayCache = {
      claim: () => Promise.reject(new Error('redis down')),
      close: async () => {},
    };
    const o = await run(signed('k-ed', { nonce: 'n' }), { replay: broken });
    assert.deepEqual(o, { ok: false, reason: 'replay_unavailable', keyid: 'k-ed', unavailable: true });
    const verify = createVerifier(settings(), {
      replay: () => {
        throw new Error('store not implemented yet');
      },
      now: () => NOW * 1000,
    });
    const s = signed('k-ed', { nonce: 'n' });
    const o2 = await verify({
      view: message(),
      signatureInput: s.signatureInput,
      signature: s.signature,
      hasBody: true,
      readBody: async () => Buffer.from(BODY),
    });
    assert.equal(o2.ok === false && o2.unavailable, true);
  });

  it('takes the algorithm from the key, never from alg', async () => {
    await failsWith(run(signed('k-ed', { alg: 'hmac-sha256' })), 'bad_signature', 'k-ed');
    assert.equal((await run(signed('k-ed', { alg: 'ed25519' }))).ok, true);
    // An RSA key registered for PSS does not verify a v1.5 signature, and the reverse.
    const v15 = signed('k-v15');
    await failsWith(
      run({ signatureInput: v15.signatureInput.replace('k-v15', 'k-pss'), signature: v15.signature }),
      'bad_signature',
      'k-pss',
    );
    // An HMAC signature made with the ed25519 public key as secret is worthless.
    const edPub = ed.publicKey.export({ format: 'der', type: 'spki' });
    const forged = signRequest(message(), {
      keyid: 'k-ed',
      algorithm: 'hmac-sha256',
      key: edPub,
      components: ['@method', '@authority', '@path', 'content-digest'],
      created: NOW,
    });
    await failsWith(run(forged), 'bad_signature', 'k-ed');
  });

  it('refuses unknown keys without naming them', async () => {
    const s = signed('k-ed');
    await failsWith(
      run({ signatureInput: s.signatureInput.replace('"k-ed"', '"nobody"'), signature: s.signature }),
      'unknown_key',
    );
    await failsWith(
      run({
        signatureInput: s.signatureInput.replace('"k-ed"', '"../../etc/passwd\' OR 1=1"'),
        signature: s.signature,
      }),
      'unknown_key',
    );
  });

  it('requires the configured components', async () => {
    await failsWith(
      run(signed('k-ed', { components: ['@authority', '@path', 'content-digest'] })),
      'missing_component',
      'k-ed',
    );
    await failsWith(
      run(signed('k-ed', { components: ['@method', '@authority', '@path'] })),
      'missing_component',
      'k-ed',
    );
    // No body: content-digest is not required.
    const o = await run(signed('k-ed', { components: ['@method', '@authority', '@path'] }, { body: '' }), {
      body: '',
    });
    assert.equal(o.ok, true, JSON.stringify(o));
    // Covered but absent header.
    await failsWith(
      run(signed('k-ed', { components: ['@method', '@authority', '@path', 'content-digest'] }), {
        req: { headers: [['Host', 'api.example.com']] },
      }),
      'missing_component',
      'k-ed',
    );
  });

  it('a covered content-digest must match even when unsupported algorithms come along', async () => {
    const body = Buffer.from(BODY);
    const headers: [string, string][] = [
      ['Host', 'api.example.com'],
      ['Content-Digest', `md5=:AAAAAAAAAAAAAAAAAAAAAA==:, ${contentDigest(body, 'sha-512')}`],
    ];
    const s = signed('k-ed', {}, { headers });
    assert.equal((await run(s, { req: { headers } })).ok, true);
    const only = [
      ['Host', 'api.example.com'],
      ['Content-Digest', 'md5=:AAAAAAAAAAAAAAAAAAAAAA==:'],
    ] as [string, string][];
    await failsWith(
      run(signed('k-ed', {}, { headers: only }), { req: { headers: only } }),
      'digest_mismatch',
      'k-ed',
    );
    await failsWith(
      run(signed('k-ed', {}, { headers }), { req: { headers }, settings: { digestAlgorithms: ['sha-256'] } }),
      'digest_mismatch',
      'k-ed',
    );
    const junk = [
      ['Host', 'api.example.com'],
      ['Content-Digest', 'sha-256=abc'],
    ] as [string, string][];
    await failsWith(
      run(signed('k-ed', {}, { headers: junk }), { req: { headers: junk } }),
      'malformed',
      'k-ed',
    );
  });

  it('with a label set, verifies only that signature', async () => {
    const a = signed('k-ed', { label: 'a' });
    const b = signed('k-ec', { label: 'b' });
    const both = {
      signatureInput: `${a.signatureInput}, ${b.signatureInput}`,
      signature: `${a.signature}, ${b.signature}`,
    };
    const first = await run(both);
    assert.ok(first.ok && first.keyid === 'k-ed');
    const labelled = await run(both, { settings: { label: 'b' } });
    assert.ok(labelled.ok && labelled.keyid === 'k-ec');
    await failsWith(run(both, { settings: { label: 'c' } }), 'malformed');
  });

  it('without a label, skips signatures of unregistered keys', async () => {
    const s = signed('k-ec', { label: 'mine' });
    const input = `theirs=("@method");created=${NOW};keyid="elsewhere", ${s.signatureInput}`;
    const sig = `theirs=:AAAA:, ${s.signature}`;
    const o = await run({ signatureInput: input, signature: sig });
    assert.ok(o.ok && o.keyid === 'k-ec');
  });

  it('refuses malformed and hostile headers', async () => {
    const s = signed('k-ed');
    const cases: [string | undefined, string | undefined][] = [
      [s.signatureInput, undefined],
      [undefined, s.signature],
      ['sig1', s.signature],
      ['sig1=', s.signature],
      [`${s.signatureInput}, ${s.signatureInput}`, s.signature], // duplicate label
      [s.signatureInput.replace(';created', ';created=1;created'), s.signature],
      [s.signatureInput, `${s.signature}, ${s.signature}`],
      [s.signatureInput, 'sig1=("x")'],
      [s.signatureInput, 'sig1="not bytes"'],
      [s.signatureInput, 'sig1=::'],
      [s.signatureInput, 'other=:AAAA:'],
      ['sig1="@method";keyid="k-ed"', s.signature],
      [s.signatureInput.replace('"@method"', '"@METHOD"'), s.signature],
      [s.signatureInput.replace('"@method"', '"@status"'), s.signature],
      [s.signatureInput.replace('"@method"', '"@signature-params"'), s.signature],
      [s.signatureInput.replace('"@method"', '"@method";req'), s.signature],
      [s.signatureInput.replace('"@method"', '"Content-Type"'), s.signature],
      [s.signatureInput.replace('"@method"', '"content-digest";sf'), s.signature],
      [s.signatureInput.replace('"@method"', '@method'), s.signature], // token, not string
      [s.signatureInput.replace('"@method"', '"@path"'), s.signature], // covered twice
      [s.signatureInput.replace('created=', 'created=-'), s.signature],
      [`${s.signatureInput.replace('created=', 'created="')}"`, s.signature],
      [s.signatureInput.replace('keyid="k-ed"', 'keyid=k-ed'), s.signature],
      [s.signatureInput.replace('keyid="k-ed"', 'keyid="k-ed";nonce=""'), s.signature],
      [s.signatureInput.replace('keyid="k-ed"', `keyid="k-ed";nonce="${'n'.repeat(300)}"`), s.signature],
      [`${s.signatureInput}${' '.repeat(5000)}`, s.signature],
      [s.signatureInput, `sig1=:${'A'.repeat(9000)}:`],
      [`sig1=(${'"x" '.repeat(40)})`, s.signature],
    ];
    for (const [input, sig] of cases) {
      const o = await run({ signatureInput: input, signature: sig });
      assert.equal(o.ok, false, `${input} / ${sig}`);
      if (!o.ok)
        assert.ok(['malformed', 'unknown_key'].includes(o.reason), `${o.reason} for ${input} / ${sig}`);
    }
  });

  it('refuses required components it could never see', () => {
    for (const name of ['@status', '@signature-params', '@nope', 'Content-Digest'])
      assert.throws(
        () => createVerifier(settings({ requiredComponents: [name] }), { replay: () => new FakeReplay() }),
        /requiredComponents/,
      );
  });

  it('refuses keys that cannot be used, at start-up, without printing them', () => {
    const bad: [Partial<VerifierSettings['keys'][string]>, RegExp][] = [
      [{ algorithm: 'ed25519', publicKey: 'not a key' }, /not a readable/],
      [{ algorithm: 'ed25519', publicKey: pem(ec.publicKey) }, /not an Ed25519/],
      [{ algorithm: 'ecdsa-p256-sha256', publicKey: pem(ed.publicKey) }, /not an EC P-256/],
      [
        {
          algorithm: 'rsa-pss-sha512',
          publicKey: pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey),
        },
        /2048/,
      ],
      [
        { algorithm: 'ed25519', publicKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
        /private key/,
      ],
      [
        {
          algorithm: 'ed25519',
          publicKey: ed.privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
        },
        /private key/,
      ],
      [{ algorithm: 'hmac-sha256', secret: Buffer.alloc(16).toString('base64') }, /32 bytes/],
      [{ algorithm: 'hmac-sha256', secret: 'not base64!' }, /not base64/],
      [{ algorithm: 'hmac-sha256', publicKey: pem(ed.publicKey) }, /not a "publicKey"/],
      [{ algorithm: 'ed25519', secret: 'AAAA' }, /not a "secret"/],
      [{ algorithm: 'ed25519' }, /needs a "publicKey"/],
    ];
    for (const [key, msg] of bad) {
      assert.throws(
        () =>
          createVerifier(
            settings({ keys: { x: { roles: [], scopes: [], ...key } as VerifierSettings['keys'][string] } }),
            { replay: () => new FakeReplay() },
          ),
        (err: Error) => {
          assert.match(err.message, /^keys\["x"\]: /);
          assert.match(err.message, msg);
          assert.ok(!err.message.includes('BEGIN'));
          return true;
        },
      );
    }
  });
});
