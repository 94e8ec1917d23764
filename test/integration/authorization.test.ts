import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import {
  baseConfig,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestUpstream,
  testToken,
} from '../helpers.js';

const secret = TEST_IDP.secret;
const jwt = {
  issuers: [{ issuer: 'https://idp.test', audience: ['api'], secret, algorithms: ['HS256'] }],
};

const token = (sub: string) => testToken(sub);

describe('authorization: deny by default', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  it('a route that authenticates but names no rule is refused at start-up, naming the route', async () => {
    await assert.rejects(
      startGateway(baseConfig(upstream.url, { plugins: { jwt, authorization: { allow: 'rules' } } })),
      (err: unknown) =>
        err instanceof ConfigError &&
        /routes\[0\]: authorization: the route authenticates but names no authorization rule/.test(
          err.message,
        ),
    );
  });

  it('allow: authenticated lets every authenticated caller in, said in so many words', async () => {
    const gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: { jwt, authentication: { anonymous: false }, authorization: { allow: 'authenticated' } },
      }),
    );
    try {
      const ok = await fetch(`${gw.url}/items`, {
        headers: { authorization: `Bearer ${await token('ann')}` },
      });
      assert.equal(ok.status, 200);
      assert.equal((await fetch(`${gw.url}/items`)).status, 401);
    } finally {
      await gw.close();
    }
  });

  it('a public route (no authenticator) needs no rule', async () => {
    const gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: { authentication: { anonymous: true }, authorization: { allow: 'rules' } },
      }),
    );
    try {
      assert.equal((await fetch(`${gw.url}/items`)).status, 200);
    } finally {
      await gw.close();
    }
  });
});
