import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
} from '../helpers.js';

const jwt = {
  issuers: [{ issuer: TEST_IDP.issuer, audience: ['api'], secret: TEST_IDP.secret, algorithms: ['HS256'] }],
};

describe('automatic blocks of a principal', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: { jwt, authentication: { anonymous: false } },
        observability: { anomaly: { autoBlock: { mode: 'enforce' } } },
      }),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('a blocked principal is refused with 403 CLIENT_BLOCKED once authenticated; others pass; unblocking lifts it', async () => {
    const anomaly = gw.gateway.obs.anomalyPart;
    assert.ok(anomaly !== undefined);
    const as = async (sub: string) =>
      fetch(`${gw.url}/items`, { headers: { authorization: `Bearer ${await testToken(sub)}` } });
    assert.equal((await as('mallory')).status, 200);
    // What the detector does on an alert about this principal (scraping, enumeration).
    const entry = anomaly.block('principal', `jwt:${TEST_IDP.issuer}|mallory`, 60, 'test');
    const before = upstream.calls.length;
    const refused = await as('mallory');
    const text = await refused.text();
    assert.equal(refused.status, 403);
    assert.equal(problemOf(refused.headers.get('content-type'), text).code, 'CLIENT_BLOCKED');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(upstream.calls.length, before, 'the upstream is not called');
    assert.equal((await as('alice')).status, 200, 'another principal passes');
    assert.equal(anomaly.unblock(entry.id), true);
    assert.equal((await as('mallory')).status, 200);
  });
});
