import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { problemOf } from '../helpers.js';
import { startUntil } from './process.js';

const START = fileURLToPath(new URL('../../examples/quickstart/start.js', import.meta.url));

it('the quick start runs the demo API behind the gateway and its three curl commands behave as printed', async () => {
  const { running, match } = await startUntil([START], /Portcullis is running on (http:\/\/[\d.:]+)/, {
    PORTCULLIS_PORT: '0',
    DEMO_API_PORT: '0',
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

    const masked = await fetch(`${url}/api/boom`);
    assert.equal(masked.status, 500);
    assert.doesNotMatch(await masked.text(), /hunter2|db\.js/);
  } finally {
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
  }
});
