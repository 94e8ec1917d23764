import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Introspector } from './introspector.js';
import type { IntrospectionSettings } from './schema.js';

const rfc7662 = JSON.parse(
  readFileSync(new URL('../../../../../test/vectors/rfc7662-examples.json', import.meta.url), 'utf8'),
) as {
  requests: {
    id: string;
    clientId?: string;
    clientSecret?: string;
    authorization?: string;
    body: string;
    token: string;
    tokenTypeHint?: string;
    contentType: string;
  }[];
  responses: { id: string; body: Record<string, unknown> }[];
};
const request = (id: string) =>
  rfc7662.requests.find((r) => r.id === id) as (typeof rfc7662.requests)[number];
const response = (id: string) => rfc7662.responses.find((r) => r.id === id)?.body as Record<string, unknown>;

const silent = pino({ level: 'silent' });

function settings(over: Partial<IntrospectionSettings> = {}): IntrospectionSettings {
  return {
    endpoint: 'http://127.0.0.1:9/introspect',
    clientId: 's6BhdRkqt3',
    clientSecret: 'gX1fBat3bV',
    clientAuth: 'client_secret_basic',
    tokenTypeHint: 'access_token',
    timeoutMs: 1000,
    cacheTtlSeconds: 300,
    negativeCacheSeconds: 10,
    cacheMaxEntries: 100,
    audience: [],
    issuer: '',
    rolesClaim: 'roles',
    scopesClaim: 'scope',
    consumerClaim: 'client_id',
    tenantClaim: '',
    forwardToken: true,
    ...over,
  };
}

describe('RFC 7662 examples', () => {
  const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
  let url: string;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(response('2.2-inactive')));
    });
  });
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("2.1: the request is the RFC's (form POST, Basic client authentication, token type hint)", async () => {
    const basic = request('2.1-basic');
    const i1 = new Introspector(
      settings({
        endpoint: url,
        clientId: basic.clientId ?? '',
        clientSecret: basic.clientSecret ?? '',
        tokenTypeHint: '',
      }),
      { logger: silent },
    );
    assert.deepEqual(await i1.check(basic.token), { ok: false, reason: 'inactive' });
    assert.equal(seen[0]?.headers.authorization, basic.authorization);
    assert.equal(seen[0]?.headers['content-type'], basic.contentType);
    assert.equal(seen[0]?.headers.accept, 'application/json');
    assert.equal(seen[0]?.body, basic.body);
    await i1.close();

    const hint = request('2.1-hint');
    const i2 = new Introspector(settings({ endpoint: url }), { logger: silent });
    await i2.check(hint.token);
    assert.equal(seen[1]?.body, hint.body);
    await i2.close();
  });

  it('client_secret_post puts the client credentials in the form body, form-encoded', async () => {
    const i = new Introspector(
      settings({
        endpoint: url,
        clientAuth: 'client_secret_post',
        clientId: 'my app',
        clientSecret: 'p&ss=w:rd',
      }),
      { logger: silent },
    );
    await i.check('tok');
    const last = seen.at(-1);
    assert.equal(last?.headers.authorization, undefined);
    const form = new URLSearchParams(last?.body);
    assert.equal(form.get('client_id'), 'my app');
    assert.equal(form.get('client_secret'), 'p&ss=w:rd');
    assert.equal(form.get('token'), 'tok');
    await i.close();
  });

  it('2.2: the active example answer maps to a principal; the inactive one is refused', async () => {
    const active = response('2.2-active');
    const before = () => ((active.exp as number) - 60) * 1000;
    const i = new Introspector(settings({ audience: ['https://protected.example.net/resource'] }), {
      logger: silent,
      clock: before,
    });
    const out = i.evaluate(active);
    assert.ok(out.ok);
    const p = out.token.principal;
    assert.equal(p.id, 'introspection:https://server.example.com/|Z5O3upPC88QrAjx00dis');
    assert.equal(p.kind, 'user');
    assert.equal(p.subject, 'Z5O3upPC88QrAjx00dis');
    assert.equal(p.consumer, 'l238j323ds-23ij4');
    assert.deepEqual(p.scopes, ['read', 'write', 'dolphin']);
    assert.equal(p.claims.extension_field, 'twenty-seven');
    assert.equal(p.method, 'introspection');
    assert.deepEqual(i.evaluate(response('2.2-inactive')), { ok: false, reason: 'inactive' });
    await i.close();
  });

  it('active answers are still checked: exp, nbf, issuer, audience, subject', async () => {
    const active = response('2.2-active');
    const exp = active.exp as number;
    const at = (s: number) => () => s * 1000;
    const check = (over: Partial<IntrospectionSettings>, clockS: number, doc: Record<string, unknown>) => {
      const i = new Introspector(settings(over), { logger: silent, clock: at(clockS) });
      const out = i.evaluate(doc);
      void i.close();
      return out;
    };
    assert.deepEqual(check({}, exp, active), { ok: false, reason: 'expired' });
    assert.deepEqual(check({}, exp - 10, { ...active, nbf: exp }), { ok: false, reason: 'not_yet_valid' });
    assert.deepEqual(check({ issuer: 'https://other/' }, exp - 10, active), {
      ok: false,
      reason: 'bad_issuer',
    });
    assert.deepEqual(check({ audience: ['urn:other'] }, exp - 10, active), {
      ok: false,
      reason: 'bad_audience',
    });
    assert.deepEqual(check({}, exp - 10, { active: true }), { ok: false, reason: 'missing_sub' });
    for (const garbage of [null, [], 'x', { active: 'true' }, {}])
      assert.deepEqual(check({}, exp - 10, garbage as never), {
        ok: false,
        reason: 'introspection_unavailable',
        unavailable: true,
      });
    const service = check({}, exp - 10, { active: true, client_id: 'svc', cnf: { 'x5t#S256': 'abc' } });
    assert.ok(service.ok);
    assert.equal(service.token.principal.kind, 'service');
    assert.deepEqual(service.token.cnf, { 'x5t#S256': 'abc' });
  });

  it('refuses unusable settings at start-up without echoing the secret', () => {
    const cases: [Partial<IntrospectionSettings>, RegExp][] = [
      [{ endpoint: '' }, /endpoint URL is required/],
      [{ endpoint: 'http://idp.example/introspect' }, /https:\/\//],
      [{ clientSecret: '' }, /clientId and clientSecret are required/],
      [{ clientId: '' }, /clientId and clientSecret are required/],
    ];
    for (const [over, message] of cases)
      assert.throws(
        () => new Introspector(settings({ clientSecret: 'top-secret-value', ...over }), { logger: silent }),
        (err: Error) => message.test(err.message) && !err.message.includes('top-secret-value'),
      );
  });
});
