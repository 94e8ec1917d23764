import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startDemoApi } from '../../examples/demo-api/server.js';
import { problemOf, startGateway, TEST_IDP, type TestGateway, testToken, waitForLog } from '../helpers.js';

const secret = TEST_IDP.secret;

const token = (sub: string, roles: string[]) => testToken(sub, { roles });

const ownerOrAdmin = "response.body.ownerId == principal.subject || 'admin' in principal.roles";

/**
 * The BOLA scenario on the bundled demo API, which trusts whatever it is asked: alice and bob each
 * read and change only their own orders, carol (admin) reads all, the list is filtered by owner,
 * and a member cannot call the admin-only operation.
 */
describe('object- and function-level authorization on the demo API', () => {
  let demo: { server: Server; url: string };
  let gw: TestGateway;
  const auth: Record<string, string> = {};

  before(async () => {
    demo = await startDemoApi(0);
    auth.alice = `Bearer ${await token('alice', ['member'])}`;
    auth.bob = `Bearer ${await token('bob', ['member'])}`;
    auth.carol = `Bearer ${await token('carol', ['admin'])}`;
    gw = await startGateway({
      listeners: [{ name: 'test', host: '127.0.0.1', port: 0 }],
      upstreams: { demo: { url: demo.url } },
      plugins: {
        jwt: { issuers: [{ issuer: 'https://idp.test', audience: ['api'], secret, algorithms: ['HS256'] }] },
      },
      routes: [
        {
          id: 'list-orders',
          path: '/orders',
          methods: ['GET'],
          upstream: 'demo',
          plugins: {
            policy: {
              response: {
                filter: { keep: "item.ownerId == principal.subject || 'admin' in principal.roles" },
              },
            },
          },
        },
        {
          id: 'get-order',
          path: '/orders/:id',
          methods: ['GET'],
          upstream: 'demo',
          plugins: {
            policy: {
              response: { rules: [{ name: 'own-order', allow: ownerOrAdmin, onDeny: 'not-found' }] },
            },
          },
        },
        {
          id: 'change-own-order',
          path: '/users/:userId/orders/:id',
          methods: ['PUT'],
          upstream: 'demo',
          plugins: {
            policy: { rules: [{ name: 'own-orders', allow: 'request.params.userId == principal.subject' }] },
          },
        },
        {
          // Who owns order N is only known to the orders service: ask it before the change is made.
          id: 'change-order',
          path: '/orders/:id',
          methods: ['PUT'],
          upstream: 'demo',
          plugins: {
            policy: {
              lookups: { owner: { url: `${demo.url}/orders/{id}`, field: 'ownerId', cacheSeconds: 5 } },
              rules: [
                {
                  name: 'own-order',
                  allow: "lookup.owner == principal.subject || 'admin' in principal.roles",
                },
              ],
            },
          },
        },
        {
          id: 'delete-order',
          path: '/orders/:id',
          methods: ['DELETE'],
          upstream: 'demo',
          plugins: {
            rbac: {
              roles: { admin: { permissions: ['orders:*'] }, member: { permissions: ['orders:read'] } },
              require: { permissions: ['orders:delete'] },
            },
          },
        },
      ],
    });
  });

  after(async () => {
    await gw.close();
    demo.server.close();
    demo.server.closeAllConnections();
  });

  const get = (path: string, who: string) =>
    fetch(`${gw.url}${path}`, { headers: { authorization: auth[who] as string } });
  const put = (path: string, who: string, body: unknown) =>
    fetch(`${gw.url}${path}`, {
      method: 'PUT',
      headers: { authorization: auth[who] as string, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('each user reads only their own order; another user’s is a 404, its body never sent', async () => {
    const own = await get('/orders/42', 'alice');
    assert.equal(own.status, 200);
    assert.equal(((await own.json()) as { ownerId: string }).ownerId, 'alice');
    const other = await get('/orders/43', 'alice');
    assert.equal(other.status, 404);
    const body = await other.text();
    assert.equal(problemOf(other.headers.get('content-type'), body).code, 'NOT_FOUND');
    assert.doesNotMatch(body, /drawbridge|bob/);
    assert.equal((await get('/orders/43', 'bob')).status, 200);
    const line = await waitForLog(gw, (l) => l.log === 'audit' && l.rule === 'own-order');
    assert.equal(line.event, 'authorization.deny');
  });

  it('a hidden object and a missing one answer alike, to GET and to HEAD', async () => {
    const hidden = await get('/orders/43', 'alice');
    const missing = await get('/orders/999', 'alice');
    assert.equal(hidden.status, 404);
    assert.equal(missing.status, 404);
    const a = problemOf(hidden.headers.get('content-type'), await hidden.text());
    const b = problemOf(missing.headers.get('content-type'), await missing.text());
    assert.deepEqual({ ...a, requestId: '' }, { ...b, requestId: '' });
    const head = (path: string) =>
      fetch(`${gw.url}${path}`, { method: 'HEAD', headers: { authorization: auth.alice as string } });
    const [h1, h2, own] = await Promise.all([head('/orders/43'), head('/orders/999'), head('/orders/42')]);
    assert.equal(h1.status, 404);
    assert.equal(h2.status, 404);
    assert.equal(h1.headers.get('content-length'), h2.headers.get('content-length'));
    assert.equal(own.status, 200);
  });

  it('HEAD on the list reports the filtered size, not everyone’s', async () => {
    const list = await get('/orders', 'alice');
    const size = String(Buffer.byteLength(await list.text()));
    const head = await fetch(`${gw.url}/orders`, {
      method: 'HEAD',
      headers: { authorization: auth.alice as string },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), size);
  });

  it('an admin reads every order', async () => {
    for (const id of ['42', '43']) assert.equal((await get(`/orders/${id}`, 'carol')).status, 200);
  });

  it('the list is filtered to the caller’s orders; the admin sees all', async () => {
    const owners = async (who: string) =>
      ((await (await get('/orders', who)).json()) as { ownerId: string }[]).map((o) => o.ownerId);
    assert.deepEqual([...new Set(await owners('alice'))], ['alice']);
    assert.deepEqual([...new Set(await owners('bob'))], ['bob']);
    assert.deepEqual([...new Set(await owners('carol'))].sort(), ['alice', 'bob']);
  });

  it('each user changes only their own orders; the demo API never sees the other attempt', async () => {
    const mine = await put('/users/alice/orders/42', 'alice', { quantity: 5 });
    assert.equal(mine.status, 200);
    assert.equal(((await mine.json()) as { quantity: number }).quantity, 5);
    const theirs = await put('/users/bob/orders/43', 'alice', { quantity: 99 });
    assert.equal(theirs.status, 403);
    assert.equal(problemOf(theirs.headers.get('content-type'), await theirs.text()).code, 'FORBIDDEN');
    // Bob's order is unchanged.
    assert.equal(((await (await get('/orders/43', 'bob')).json()) as { quantity: number }).quantity, 2);
  });

  it('writes addressed by id are checked through an ownership lookup before they are made', async () => {
    assert.equal((await put('/orders/42', 'alice', { quantity: 6 })).status, 200);
    const theirs = await put('/orders/43', 'alice', { quantity: 99 });
    assert.equal(theirs.status, 403);
    assert.equal(problemOf(theirs.headers.get('content-type'), await theirs.text()).code, 'FORBIDDEN');
    assert.equal(((await (await get('/orders/43', 'bob')).json()) as { quantity: number }).quantity, 2);
    // An order that does not exist has no owner: denied, never forwarded.
    assert.equal((await put('/orders/999', 'alice', { quantity: 1 })).status, 403);
    assert.equal((await put('/orders/43', 'carol', { quantity: 3 })).status, 200);
  });

  it('a member calling the admin operation is refused (BFLA); the admin reaches the API', async () => {
    const member = await fetch(`${gw.url}/orders/43`, {
      method: 'DELETE',
      headers: { authorization: auth.bob as string },
    });
    assert.equal(member.status, 403);
    assert.equal(problemOf(member.headers.get('content-type'), await member.text()).code, 'FORBIDDEN');
    const admin = await fetch(`${gw.url}/orders/43`, {
      method: 'DELETE',
      headers: { authorization: auth.carol as string },
    });
    // The demo API has no DELETE: its own 404 shows the call got through.
    assert.equal(admin.status, 404);
    assert.match(await admin.text(), /not found/);
  });
});
