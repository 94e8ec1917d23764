import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { problemOf } from '../helpers.js';
import { CLI, ROOT, run, startUntil } from './process.js';

const START = fileURLToPath(new URL('../../examples/quickstart/start.js', import.meta.url));

it('the quick start runs the demo API behind the gateway and its three curl commands behave as printed', async () => {
  const data = mkdtempSync(join(tmpdir(), 'portcullis-qs-data-'));
  const { running, match } = await startUntil([START], /Portcullis is running on (http:\/\/[\d.:]+)/, {
    PORTCULLIS_PORT: '0',
    DEMO_API_PORT: '0',
    PORTCULLIS_DATA_DIR: data,
  });
  try {
    const url = match[1] as string;
    assert.match(running.stderr(), /curl -i .*\/api\/hello/);

    const ok = await fetch(`${url}/api/hello`);
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { message: string }).message, 'hello from the demo API');
    assert.equal(ok.headers.get('server'), null, 'the demo API sets Server; the gateway removes it');

    const rejected = await fetch(`${url}/api/orders/42`, { method: 'DELETE' });
    assert.equal(rejected.status, 405);
    assert.equal(
      problemOf(rejected.headers.get('content-type'), await rejected.text()).code,
      'METHOD_NOT_ALLOWED',
    );

    const undeclared = await fetch(`${url}/admin`);
    assert.equal(undeclared.status, 404);
    const body = await undeclared.text();
    assert.equal(problemOf(undeclared.headers.get('content-type'), body).code, 'ROUTE_NOT_FOUND');
    assert.doesNotMatch(body, /admin page/);

    // Orders need the API key the quick start printed (and made in its own data directory).
    const printed = /Authorization: ApiKey (pcl_\S+)'/.exec(running.stderr());
    assert.ok(printed, 'the quick start prints a demo API key');
    const anonymous = await fetch(`${url}/api/orders/42`);
    assert.equal(anonymous.status, 401);
    assert.equal(
      problemOf(anonymous.headers.get('content-type'), await anonymous.text()).code,
      'UNAUTHENTICATED',
    );
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^ApiKey realm="portcullis"/);
    const withKey = await fetch(`${url}/api/orders/42`, {
      headers: { authorization: `ApiKey ${printed[1]}` },
    });
    assert.equal(withKey.status, 200);
    // Writes need the key's "orders" scope (rbac); the demo key has it, and the new order is owned
    // by the verified caller the gateway names, not by anything the client sent.
    const created = await fetch(`${url}/api/orders`, {
      method: 'POST',
      headers: {
        authorization: `ApiKey ${printed[1]}`,
        'content-type': 'application/json',
        'x-portcullis-subject': 'mallory',
      },
      body: JSON.stringify({ item: 'moat', quantity: 1 }),
    });
    assert.equal(created.status, 201);
    assert.equal(((await created.json()) as { ownerId: string }).ownerId, 'quickstart-demo');
    assert.ok(existsSync(join(data, 'portcullis.db')));
    // The demo API's OpenAPI description: an order may not name its own owner (read-only), and an
    // id that is not digits never reaches the demo API.
    const forged = await fetch(`${url}/api/orders`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${printed[1]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'moat', ownerId: 'mallory' }),
    });
    assert.equal(forged.status, 400);
    const problem = (await forged.json()) as { code: string; errors: { pointer: string }[] };
    assert.equal(problem.code, 'REQUEST_INVALID');
    assert.deepEqual(
      problem.errors.map((e) => e.pointer),
      ['/body/ownerId'],
    );
    const badId = await fetch(`${url}/api/orders/42abc`, {
      headers: { authorization: `ApiKey ${printed[1]}` },
    });
    assert.equal(badId.status, 400);

    const masked = await fetch(`${url}/api/boom`);
    assert.equal(masked.status, 500);
    assert.doesNotMatch(await masked.text(), /hunter2|db\.js/);
  } finally {
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
  }
});

it('the quick start runs over HTTPS with the dev certificates (HSTS on, curl hint with the dev CA)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-qs-tls-'));
  const made = await run([CLI, 'certs', 'dev', '--out', dir]);
  assert.equal(made.code, 0, made.stderr);
  const { running, match } = await startUntil([START], /Portcullis is running on (https:\/\/[\d.:]+)/, {
    PORTCULLIS_PORT: '0',
    DEMO_API_PORT: '0',
    PORTCULLIS_CONFIG: join(ROOT, 'examples/quickstart/portcullis-https.yaml'),
    PORTCULLIS_TLS_DIR: dir,
    PORTCULLIS_CA: join(dir, 'ca.crt'),
  });
  try {
    assert.match(running.stderr(), /curl --cacert .*ca\.crt -i https:/);
    const url = `${match[1] as string}/api/hello`;
    const answer = await new Promise<{ status: number; hsts: unknown }>((resolve, reject) => {
      const req = httpsRequest(url, { ca: readFileSync(join(dir, 'ca.crt')) }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.hsts, 'max-age=31536000; includeSubDomains');
  } finally {
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
  }
});
