import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../test/helpers.js';
import { isSecretKey } from './checks/api3-properties.js';
import { BudgetedHttp } from './http.js';
import { isSecretName, REDACTED, Redactor } from './redact.js';

describe('BudgetedHttp', () => {
  let up: TestUpstream;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  function client(extra: Partial<ConstructorParameters<typeof BudgetedHttp>[0]> = {}): BudgetedHttp {
    return new BudgetedHttp({
      target: new URL(`${up.url}/base/`),
      budget: 5,
      rate: 0,
      concurrency: 2,
      timeoutMs: 2000,
      dryRun: false,
      insecure: false,
      secrets: ['Bearer secret-token-value'],
      ...extra,
    });
  }

  it('sends under the target base path, with the identity header, and parses JSON', async () => {
    const http = client();
    const res = await http.send({
      method: 'GET',
      path: '/items?x=1',
      as: { name: 'alice', header: 'authorization', value: 'Bearer secret-token-value' },
      purpose: 'test',
    });
    assert.equal(res?.status, 200);
    assert.equal(up.calls.at(-1)?.url, '/base/items?x=1');
    assert.equal(up.calls.at(-1)?.headers.authorization, 'Bearer secret-token-value');
    assert.deepEqual(res?.json, { ok: true, method: 'GET', url: '/base/items?x=1' });
    await http.close();
  });

  it('stops at the budget: later requests are not sent', async () => {
    const http = client({ budget: 3 });
    const before = up.calls.length;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => http.send({ method: 'GET', path: '/b', purpose: 'budget' })),
    );
    assert.equal(answers.filter((a) => a !== undefined).length, 3);
    assert.equal(up.calls.length - before, 3);
    assert.equal(http.remaining, 0);
    assert.equal(http.sent, 3);
    await http.close();
  });

  it('dry run sends nothing and records what it would send, credentials redacted', async () => {
    const http = client({ dryRun: true });
    const before = up.calls.length;
    const res = await http.send({ method: 'POST', path: '/login?api_key=abc123456', purpose: 'login probe' });
    assert.equal(res, undefined);
    assert.equal(up.calls.length, before);
    assert.deepEqual(http.planned, [
      { method: 'POST', path: `/login?api_key=${REDACTED}`, purpose: 'login probe' },
    ]);
    await http.close();
  });

  it('paces requests to the rate', async () => {
    const http = client({ rate: 20, budget: 6 });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 6 }, () => http.send({ method: 'GET', path: '/r', purpose: 'rate' })),
    );
    assert.ok(performance.now() - t0 >= 240, 'six requests at 20/s take at least 250 ms');
    await http.close();
  });

  it('a refused connection is "no answer", not a crash', async () => {
    const http = new BudgetedHttp({
      target: new URL('http://127.0.0.1:1/'),
      budget: 1,
      rate: 0,
      concurrency: 1,
      timeoutMs: 500,
      dryRun: false,
      insecure: false,
      secrets: [],
    });
    assert.equal(await http.send({ method: 'GET', path: '/', purpose: 'x' }), undefined);
    await http.close();
  });
});

describe('BudgetedHttp against a hostile target', () => {
  it('cuts an endless body at 256 KiB instead of reading it', async () => {
    const { createServer } = await import('node:http');
    const chunk = Buffer.alloc(64 * 1024, 97);
    let written = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = () => {
        while (res.write(chunk)) {
          written += chunk.length;
          if (written > 512 * 1024 * 1024) return res.end();
        }
        res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const http = new BudgetedHttp({
      target: new URL(`http://127.0.0.1:${port}/`),
      budget: 1,
      rate: 0,
      concurrency: 1,
      timeoutMs: 5000,
      dryRun: false,
      insecure: false,
      secrets: [],
    });
    const res = await http.send({ method: 'GET', path: '/', purpose: 'endless' });
    assert.equal(res?.status, 200);
    assert.equal(res?.body.length, 256 * 1024);
    assert.ok(written < 64 * 1024 * 1024, `the scanner read ${written} bytes`);
    assert.equal(http.answered, 1);
    await http.close();
    server.closeAllConnections();
    server.close();
  });

  it('sends nothing once the deadline has passed', async () => {
    const http = new BudgetedHttp({
      target: new URL('http://127.0.0.1:1/'),
      budget: 10,
      rate: 0,
      concurrency: 1,
      timeoutMs: 500,
      dryRun: false,
      insecure: false,
      secrets: [],
      deadline: performance.now() - 1,
    });
    assert.equal(await http.send({ method: 'GET', path: '/', purpose: 'late' }), undefined);
    assert.equal(http.sent, 0);
    assert.equal(http.expired, true);
    await http.close();
  });
});

describe('Redactor', () => {
  const r = new Redactor(['Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig', 'X-Key-Value-123']);

  it('removes identities, secret headers, secret query values, JWTs and card numbers', () => {
    assert.equal(
      r.headers({ Authorization: 'Bearer x', 'X-Api-Key': 'k', Accept: 'a' }).authorization,
      REDACTED,
    );
    assert.equal(r.headers({ 'X-Api-Key': 'k' })['x-api-key'], REDACTED);
    assert.equal(r.url('/a?access_token=abc&q=1'), `/a?access_token=${REDACTED}&q=1`);
    assert.equal(r.url('/a?password%5B%24ne%5D=1'), `/a?password%5B%24ne%5D=${REDACTED}`);
    assert.ok(!r.text('echo eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig').includes('eyJzdWIi'));
    assert.ok(!r.text('key X-Key-Value-123 here').includes('X-Key-Value-123'));
    assert.equal(r.text('card 4111 1111 1111 1111'), `card ${REDACTED}`);
  });

  it('removes a credential echoed percent-encoded or in base64; keeps timestamps, redacts Luhn-valid cards', () => {
    const t = new Redactor(['Bearer q+Lk/9zZ-secret-value']);
    const enc = encodeURIComponent('q+Lk/9zZ-secret-value');
    assert.ok(!t.text(`"self":"/items?access_token=${enc}"`).includes(enc));
    const b64 = Buffer.from('q+Lk/9zZ-secret-value').toString('base64');
    assert.ok(!t.text(`echo ${b64}`).includes(b64));
    assert.equal(t.text('at 1764331200000'), 'at 1764331200000');
    assert.equal(t.text('card 4111111111111111'), `card ${REDACTED}`);
    assert.match(
      t.body(JSON.stringify({ pwd: 'Hunter2-Real!', salt: 'abc', pin: '1234' })),
      /"pwd":"\[redacted\]","salt":"\[redacted\]","pin":"\[redacted\]"/,
    );
  });

  it('redacts every field the sensitive-data check flags, in any spelling', () => {
    const names = [
      'password',
      'passwd',
      'pwd',
      'passwordHash',
      'password_salt',
      'hashedPassword',
      'hash',
      'salt',
      'secret',
      'clientSecret',
      'secretKey',
      'apiSecret',
      'token',
      'accessToken',
      'refresh_token',
      'idToken',
      'sessionToken',
      'authToken',
      'apiKey',
      'api-key',
      'privateKey',
      'ssn',
      'socialSecurityNumber',
      'cardNumber',
      'creditCard',
      'creditCardNumber',
      'ccNumber',
      'cvv',
      'cvc',
      'pin',
      'otp',
      'mfaSecret',
      'totpSecret',
    ];
    for (const name of names) {
      if (!isSecretKey(name)) continue;
      assert.ok(isSecretName(name), name);
      assert.ok(!r.body(JSON.stringify({ [name]: 'v4lue-kept-secret' })).includes('v4lue'), name);
    }
    assert.equal(isSecretName('shipping'), false);
    assert.equal(isSecretName('primaryKey'), false);
  });

  it('keeps the names of secret JSON fields but not their values, and caps the excerpt', () => {
    const body = r.body(JSON.stringify({ user: 'a', passwordHash: '$2b$10$abc', nested: { apiKey: 'k1' } }));
    assert.match(body, /"passwordHash":"\[redacted\]"/);
    assert.match(body, /"apiKey":"\[redacted\]"/);
    assert.ok(!body.includes('$2b$'));
    assert.equal(r.body('x'.repeat(5000)).length, 2049);
  });
});
