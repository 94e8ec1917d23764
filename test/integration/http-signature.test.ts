import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import type { Algorithm } from '../../src/plugins/authenticate/http-signature/algorithms.js';
import { viewOf } from '../../src/plugins/authenticate/http-signature/base.js';
import { contentDigest } from '../../src/plugins/authenticate/http-signature/digest.js';
import { type SignOptions, signRequest } from '../../src/plugins/authenticate/http-signature/sign.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const secret = randomBytes(32);
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

const CLIENT_KEYS: Record<string, { algorithm: Algorithm; key: KeyObject | Buffer }> = {
  'svc-ed': { algorithm: 'ed25519', key: ed.privateKey },
  'svc-ec': { algorithm: 'ecdsa-p256-sha256', key: ec.privateKey },
  'svc-pss': { algorithm: 'rsa-pss-sha512', key: rsa.privateKey },
  'svc-hmac': { algorithm: 'hmac-sha256', key: secret },
};

const signatureSettings = {
  keys: {
    'svc-ed': { algorithm: 'ed25519', publicKey: pem(ed.publicKey), consumer: 'billing', roles: ['service'] },
    'svc-ec': { algorithm: 'ecdsa-p256-sha256', publicKey: ec.publicKey.export({ format: 'jwk' }) },
    'svc-pss': { algorithm: 'rsa-pss-sha512', publicKey: pem(rsa.publicKey), scopes: ['orders:write'] },
    'svc-hmac': { algorithm: 'hmac-sha256', secret: '${env:SIG_SECRET}' },
  },
};

interface Send {
  method?: string;
  path?: string;
  body?: string;
  /** Sign with these options (keyid chooses the client key). */
  sign?: Partial<SignOptions> & { keyid?: string };
  /** Headers set after signing (tampering). */
  after?: Record<string, string>;
  /** Replace the signature headers after signing. */
  mutate?: (h: { signatureInput: string; signature: string }) => {
    signatureInput: string;
    signature: string;
  };
  /** Send to this path instead of the signed one. */
  sendPath?: string;
  sendMethod?: string;
  sendBody?: string;
}

const now = () => Math.floor(Date.now() / 1000);

describe('http-signature authenticator (RFC 9421) through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: {
          authentication: { anonymous: false },
          'auth-lockout': { perIp: { threshold: 0 }, perCredential: { threshold: 0 } },
          'http-signature': signatureSettings,
        },
      }),
      { SIG_SECRET: secret.toString('base64') },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  function headersFor(s: Send): Record<string, string> {
    const method = s.method ?? 'POST';
    const path = s.path ?? '/items';
    const body =
      s.body ?? (method === 'POST' || method === 'PUT' ? '{"name": "widget", "qty": 3}' : undefined);
    const headers: Record<string, string> = { host: `127.0.0.1:${gw.port}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-digest'] = contentDigest(Buffer.from(body), 'sha-256');
    }
    const keyid = s.sign?.keyid ?? 'svc-ed';
    const client = CLIENT_KEYS[keyid] ?? { algorithm: 'ed25519' as const, key: ed.privateKey };
    const components =
      body === undefined
        ? ['@method', '@authority', '@path']
        : ['@method', '@authority', '@path', 'content-digest'];
    let sig = signRequest(viewOf(method, 'http', path, Object.entries(headers).flat()), {
      keyid,
      algorithm: client.algorithm,
      key: client.key,
      components,
      created: now(),
      ...s.sign,
    });
    if (s.mutate) sig = s.mutate(sig);
    return { ...headers, 'signature-input': sig.signatureInput, signature: sig.signature, ...s.after };
  }

  async function send(
    s: Send = {},
  ): Promise<{ status: number; headers: Headers; text: string; calls: number }> {
    const method = s.method ?? 'POST';
    const headers = headersFor(s);
    const body =
      s.sendBody ??
      s.body ??
      (method === 'POST' || method === 'PUT' ? '{"name": "widget", "qty": 3}' : undefined);
    delete headers.host;
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}${s.sendPath ?? s.path ?? '/items'}`, {
      method: s.sendMethod ?? method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, calls: upstream.calls.length - before };
  }

  async function refused(s: Send, reason: string): Promise<void> {
    const r = await send(s);
    assert.equal(r.status, 401, r.text);
    const p = problemOf(r.headers.get('content-type'), r.text);
    assert.equal(p.code, 'UNAUTHENTICATED');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Signature\b|, Signature\b|Signature realm=/);
    assert.equal(r.calls, 0, 'the upstream must not be called');
    // Nothing about the refusal leaks into the answer.
    assert.ok(!r.text.includes(reason));
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.deepEqual(line.auth, { method: 'http-signature', reason });
  }

  for (const keyid of Object.keys(CLIENT_KEYS)) {
    it(`a request signed with ${CLIENT_KEYS[keyid]?.algorithm} passes and the upstream gets the exact body`, async () => {
      const body = `{"signed by": "${keyid}", "n": ${Math.random()}}`;
      const r = await send({ body, sign: { keyid } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.calls, 1);
      const call = upstream.calls.at(-1);
      assert.ok(call);
      assert.equal(call.body.toString(), body);
      assert.equal(call.headers['x-portcullis-principal'], `sig:${keyid}`);
      assert.equal(call.headers['x-portcullis-auth-method'], 'http-signature');
    });
  }

  it('puts consumer and roles of the key on the principal', async () => {
    const r = await send({ sign: { keyid: 'svc-ed' } });
    assert.equal(r.status, 200);
    const call = upstream.calls.at(-1);
    assert.equal(call?.headers['x-portcullis-consumer'], 'billing');
    assert.equal(call?.headers['x-portcullis-subject'], 'billing');
    assert.equal(call?.headers['x-portcullis-roles'], 'service');
  });

  it('a GET without a body needs no content-digest', async () => {
    const r = await send({ method: 'GET', path: '/items/7' });
    assert.equal(r.status, 200, r.text);
    assert.equal(upstream.calls.at(-1)?.url, '/items/7');
  });

  it('@target-uri may stand in for @authority and @path', async () => {
    const r = await send({ sign: { components: ['@method', '@target-uri', 'content-digest'] } });
    assert.equal(r.status, 200, r.text);
  });

  it('a chunked body is read, checked against the digest and forwarded unchanged', async () => {
    const body = Buffer.from(`{"parts": ["${'x'.repeat(5000)}", "${'y'.repeat(5000)}"]}`);
    const headers: Record<string, string> = {
      host: `127.0.0.1:${gw.port}`,
      'content-type': 'application/json',
      'content-digest': contentDigest(body, 'sha-512'),
    };
    const sig = signRequest(viewOf('POST', 'http', '/items', Object.entries(headers).flat()), {
      keyid: 'svc-ec',
      algorithm: 'ecdsa-p256-sha256',
      key: ec.privateKey,
      components: ['@method', '@authority', '@path', 'content-digest'],
      created: now(),
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${gw.url}/items`,
        {
          method: 'POST',
          headers: { ...headers, 'signature-input': sig.signatureInput, signature: sig.signature },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 3000));
      setTimeout(() => req.end(body.subarray(3000)), 20);
    });
    assert.equal(status, 200);
    assert.deepEqual(upstream.calls.at(-1)?.body, body);
  });

  it('refuses a request without any credential', async () => {
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.status, 401);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'UNAUTHENTICATED');
    assert.match(res.headers.get('www-authenticate') ?? '', /Signature/);
    assert.equal(upstream.calls.length, before);
  });

  it('refuses a tampered body (digest mismatch)', async () => {
    await refused({ sendBody: '{"name": "widget", "qty": 300}' }, 'digest_mismatch');
  });

  it('refuses a tampered content-digest (the signature covers it)', async () => {
    const evil = '{"name": "widget", "qty": 300}';
    await refused(
      { sendBody: evil, after: { 'content-digest': contentDigest(Buffer.from(evil), 'sha-256') } },
      'bad_signature',
    );
  });

  it('refuses a tampered path or method', async () => {
    await refused({ method: 'GET', path: '/items/1', sendPath: '/items/2' }, 'bad_signature');
    await refused({ method: 'GET', path: '/items/1', sendMethod: 'DELETE' }, 'bad_signature');
  });

  it('refuses a signature made for another authority', async () => {
    const headers = { host: 'other.example' };
    const sig = signRequest(viewOf('GET', 'http', '/items/1', Object.entries(headers).flat()), {
      keyid: 'svc-ed',
      algorithm: 'ed25519',
      key: ed.privateKey,
      components: ['@method', '@authority', '@path'],
      created: now(),
    });
    await refused({ method: 'GET', path: '/items/1', mutate: () => sig }, 'bad_signature');
  });

  it('refuses a replayed nonce', async () => {
    const nonce = randomUUID();
    const headers = headersFor({ method: 'GET', path: '/items/1', sign: { nonce } });
    delete headers.host;
    const first = await fetch(`${gw.url}/items/1`, { headers });
    assert.equal(first.status, 200);
    await first.text();
    const before = upstream.calls.length;
    const again = await fetch(`${gw.url}/items/1`, { headers });
    assert.equal(again.status, 401);
    const p = problemOf(again.headers.get('content-type'), await again.text());
    assert.equal(upstream.calls.length, before);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.deepEqual(line.auth, { method: 'http-signature', reason: 'replayed_nonce' });
  });

  it('refuses expired, too old and future signatures', async () => {
    await refused({ sign: { created: now() - 120, expires: now() - 60 } }, 'expired');
    await refused({ sign: { created: now() - 301 - 5 } }, 'too_old');
    await refused({ sign: { created: now() + 120 } }, 'future_created');
  });

  it('refuses an unknown keyid', async () => {
    await refused({ sign: { keyid: 'nobody' } }, 'unknown_key');
  });

  it('refuses an alg parameter that differs from the registered key', async () => {
    await refused({ sign: { keyid: 'svc-ed', alg: 'hmac-sha256' } }, 'bad_signature');
  });

  it('refuses a signature that leaves out a required component', async () => {
    await refused({ sign: { components: ['@method', '@authority', '@path'] } }, 'missing_component');
    await refused({ sign: { components: ['@authority', '@path', 'content-digest'] } }, 'missing_component');
  });

  it('refuses malformed Signature-Input and Signature headers', async () => {
    const cases: ((h: { signatureInput: string; signature: string }) => {
      signatureInput: string;
      signature: string;
    })[] = [
      (h) => ({ ...h, signatureInput: 'sig1' }),
      (h) => ({ ...h, signatureInput: `${h.signatureInput}, ${h.signatureInput}` }),
      (h) => ({ ...h, signatureInput: h.signatureInput.replace('(', '') }),
      (h) => ({ ...h, signatureInput: h.signatureInput.replace(';created', ';created=1;created') }),
      (h) => ({ ...h, signature: 'sig1=:not base64!:' }),
      (h) => ({ ...h, signature: 'sig1="a string"' }),
      (h) => ({ ...h, signatureInput: h.signatureInput.replace('"@method"', '"@unknown"') }),
    ];
    for (const mutate of cases) await refused({ mutate }, 'malformed');
  });

  it('refuses oversized signature headers', async () => {
    await refused(
      {
        mutate: (h) => ({
          ...h,
          signatureInput: h.signatureInput.replace('(', `(${' '.repeat(5000)}`),
        }),
      },
      'malformed',
    );
    await refused(
      { mutate: (h) => ({ ...h, signature: `${h.signature}, pad=:${'A'.repeat(9000)}:` }) },
      'malformed',
    );
    const many = Array.from({ length: 12 }, (_, i) => `s${i}=("@method");created=1;keyid="x"`).join(', ');
    await refused({ mutate: (h) => ({ ...h, signatureInput: `${h.signatureInput}, ${many}` }) }, 'malformed');
  });

  it('a signed body over the body limit is refused (413) and never forwarded', async () => {
    const small = await startGateway(
      baseConfig(upstream.url, {
        plugins: {
          authentication: { anonymous: false },
          'request-guard': { maxBodyBytes: 64 },
          'http-signature': signatureSettings,
        },
      }),
      { SIG_SECRET: secret.toString('base64') },
    );
    try {
      const body = JSON.stringify({ big: 'z'.repeat(500) });
      const headers: Record<string, string> = {
        host: `127.0.0.1:${small.port}`,
        'content-digest': contentDigest(Buffer.from(body), 'sha-256'),
      };
      const sig = signRequest(viewOf('POST', 'http', '/items', Object.entries(headers).flat()), {
        keyid: 'svc-ed',
        algorithm: 'ed25519',
        key: ed.privateKey,
        components: ['@method', '@authority', '@path', 'content-digest'],
        created: now(),
      });
      const before = upstream.calls.length;
      const res = await fetch(`${small.url}/items`, {
        method: 'POST',
        headers: {
          'content-digest': headers['content-digest'] as string,
          'signature-input': sig.signatureInput,
          signature: sig.signature,
        },
        body,
      });
      assert.equal(res.status, 413);
      await res.text();
      assert.equal(upstream.calls.length, before);
    } finally {
      await small.close();
    }
  });

  it('refuses to start with a bad key, naming the setting but not the key', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          plugins: {
            'http-signature': { keys: { broken: { algorithm: 'ed25519', publicKey: pem(ec.publicKey) } } },
          },
        }),
      ),
      (err: Error) => {
        assert.ok(err instanceof ConfigError || err instanceof Error);
        assert.match(err.message, /http-signature/);
        assert.match(err.message, /broken/);
        assert.ok(!err.message.includes('BEGIN PUBLIC KEY'));
        return true;
      },
    );
  });
});
