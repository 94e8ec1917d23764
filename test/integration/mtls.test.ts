import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { createDevCertificates, type DevCertificates, type DevKeyPair } from '../../src/server/dev-certs.js';
import {
  baseConfig,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

interface Answer {
  status: number;
  body: string;
}

function get(url: string, ca: string, client?: DevKeyPair): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername: 'localhost', agent: false, ...(client ?? {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('mutual TLS', () => {
  let certs: DevCertificates;
  let dir: string;
  let upstream: TestUpstream;
  let required: TestGateway;
  let optional: TestGateway;
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const tls = (mode: string) => ({
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    clientCertificates: { mode, ca: [join(dir, 'ca.crt')], crl: [join(dir, 'ca.crl')] },
  });

  before(async () => {
    certs = await createDevCertificates();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-mtls-'));
    file('server.crt', certs.server.cert);
    file('server.key', certs.server.key);
    file('ca.crt', certs.ca.cert);
    file('ca.crl', certs.crl);
    upstream = await startUpstream();
    required = await startGateway(
      baseConfig(upstream.url, { listeners: [{ name: 'req', port: 0, tls: tls('required') }] }),
    );
    optional = await startGateway(
      baseConfig(upstream.url, {
        listeners: [{ name: 'opt', port: 0, tls: tls('optional') }],
        routes: [
          { id: 'secure', path: '/secure', upstream: 'api', plugins: { 'client-certificate': {} } },
          { id: 'open', path: '/open', upstream: 'api' },
        ],
      }),
    );
  });
  after(async () => {
    await required.close();
    await optional.close();
    await upstream.close();
  });

  const url = (gw: TestGateway, path: string) => `${gw.url.replace('127.0.0.1', 'localhost')}${path}`;

  it('required: a good client certificate passes and its identity reaches the log', async () => {
    const res = await get(url(required, '/items'), certs.ca.cert, certs.client);
    assert.equal(res.status, 200);
    const line = await waitForLog(required, (l) => l.log === 'access' && l.route === 'items');
    assert.match(String(line.clientCert), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('required: no certificate, another CA, expired or revoked fail the handshake; nothing reaches the upstream', async () => {
    const before = upstream.calls.length;
    for (const client of [undefined, certs.otherClient, certs.expiredClient, certs.revokedClient]) {
      await assert.rejects(get(url(required, '/items'), certs.ca.cert, client));
    }
    assert.equal(upstream.calls.length, before);
    // Still serving.
    assert.equal((await get(url(required, '/items'), certs.ca.cert, certs.client)).status, 200);
  });

  it('optional + client-certificate on a route: 401 without, 403 unverified, 200 verified; other routes open', async () => {
    const before = upstream.calls.length;
    const none = await get(url(optional, '/secure'), certs.ca.cert);
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).code, 'CLIENT_CERT_REQUIRED');
    for (const client of [certs.otherClient, certs.expiredClient, certs.revokedClient]) {
      const bad = await get(url(optional, '/secure'), certs.ca.cert, client);
      assert.equal(bad.status, 403);
      assert.equal(JSON.parse(bad.body).code, 'CLIENT_CERT_INVALID');
    }
    assert.equal(upstream.calls.length, before);
    assert.equal((await get(url(optional, '/secure'), certs.ca.cert, certs.client)).status, 200);
    assert.equal((await get(url(optional, '/open'), certs.ca.cert)).status, 200);
  });

  it('on a plain-HTTP listener the client-certificate plugin fails closed', async () => {
    const gw = await startGateway(baseConfig(upstream.url, { plugins: { 'client-certificate': {} } }));
    try {
      const res = await fetch(`${gw.url}/items`);
      assert.equal(res.status, 401);
    } finally {
      await gw.close();
    }
  });

  it('a CA bundle that holds no certificate is a config error, not a silent lock-out', async () => {
    const garbage = file('garbage.crt', 'garbage');
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          listeners: [
            {
              name: 'x',
              port: 0,
              tls: {
                cert: join(dir, 'server.crt'),
                key: join(dir, 'server.key'),
                clientCertificates: { mode: 'required', ca: [garbage] },
              },
            },
          ],
        }),
      ),
      (err: unknown) =>
        err instanceof ConfigError && err.issues[0]?.path === 'listeners[0].tls.clientCertificates.ca[0]',
    );
  });

  it('a client-certificate mode without a CA is a config error', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          listeners: [
            {
              name: 'x',
              port: 0,
              tls: {
                cert: join(dir, 'server.crt'),
                key: join(dir, 'server.key'),
                clientCertificates: { mode: 'required' },
              },
            },
          ],
        }),
      ),
      (err: unknown) =>
        err instanceof ConfigError && err.issues[0]?.path === 'listeners[0].tls.clientCertificates.ca',
    );
  });
});
