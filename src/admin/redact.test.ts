import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSecretKey, REDACTED, redactConfig } from './redact.js';

describe('admin config redaction', () => {
  it('names that hold secrets, and names that only point at them', () => {
    for (const k of [
      'secret',
      'clientSecret',
      'token',
      'password',
      'pepper',
      'apiKey',
      'privateKey',
      'hmac-secret',
    ])
      assert.ok(isSecretKey(k), k);
    for (const k of ['pepperFile', 'tokenUrl', 'name', 'path', 'keyPrefix', 'secretHeader', 'upstream'])
      assert.ok(!isSecretKey(k), k);
  });

  it('hides ${env:} paths, secret-named values, inline private keys and private JWK members', () => {
    const config = {
      stores: { keys: { pepper: 'p'.repeat(40), pepperFile: '/etc/pepper' } },
      upstreams: { api: { url: 'http://internal:8080', headers: { authorization: 'from-env' } } },
      admin: { tokens: [{ name: 'ada', role: 'admin', token: 't'.repeat(40) }] },
      tls: { cert: 'certs/server.crt', key: 'certs/server.key' },
      inline: { key: 'c2VjcmV0LWtleS1tYXRlcmlhbA==' },
      pem: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----',
      jwks: { keys: [{ kty: 'oct', k: 'c3ltbWV0cmlj', kid: 'one' }] },
      webhooks: [{ url: 'https://hooks.example/x', secret: 's'.repeat(20) }],
      empty: { secret: '' },
    };
    const out = redactConfig(config, new Set(['upstreams.api.headers.authorization'])) as typeof config;
    assert.equal(out.stores.keys.pepper, REDACTED);
    assert.equal(out.stores.keys.pepperFile, '/etc/pepper');
    assert.equal(out.upstreams.api.headers.authorization, REDACTED);
    assert.equal(out.upstreams.api.url, 'http://internal:8080');
    assert.deepEqual(out.admin.tokens[0], { name: 'ada', role: 'admin', token: REDACTED });
    assert.deepEqual(out.tls, { cert: 'certs/server.crt', key: 'certs/server.key' });
    assert.equal(out.inline.key, REDACTED);
    assert.equal(out.pem, REDACTED);
    assert.deepEqual(out.jwks.keys[0], { kty: 'oct', k: REDACTED, kid: 'one' });
    assert.deepEqual(out.webhooks[0], { url: 'https://hooks.example/[redacted]', secret: REDACTED });
    assert.equal(out.empty.secret, '', 'an empty value shows that nothing is set');
    assert.equal(config.stores.keys.pepper, 'p'.repeat(40), 'the running config is not touched');
  });
});
