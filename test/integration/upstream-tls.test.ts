import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { createDevCertificates, type DevCertificates } from '../../src/server/dev-certs.js';
import { baseConfig, problemOf, startGateway, waitForLog } from '../helpers.js';

describe('upstream TLS', () => {
  let certs: DevCertificates;
  let dir: string;
  let plain: Server;
  let mutual: Server;
  let plainUrl: string;
  let mutualUrl: string;
  let calls = 0;
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const listen = async (server: Server): Promise<string> => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  before(async () => {
    certs = await createDevCertificates();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-up-tls-'));
    const handler = (_req: unknown, res: { end(s: string): void }): void => {
      calls++;
      res.end('secure hello');
    };
    plain = createServer({ cert: certs.server.cert, key: certs.server.key }, handler);
    mutual = createServer(
      {
        cert: certs.server.cert,
        key: certs.server.key,
        requestCert: true,
        rejectUnauthorized: true,
        ca: certs.ca.cert,
      },
      handler,
    );
    plainUrl = await listen(plain);
    mutualUrl = await listen(mutual);
  });
  after(() => {
    plain.close();
    mutual.close();
  });

  async function get(
    upstream: Record<string, unknown>,
  ): Promise<{ status: number; body: string; logs: Record<string, unknown>[] }> {
    const gw = await startGateway({
      ...baseConfig('http://unused'),
      upstreams: { api: { connectTimeoutMs: 1000, ...upstream } },
    });
    try {
      const res = await fetch(`${gw.url}/items`);
      return { status: res.status, body: await res.text(), logs: gw.logs };
    } finally {
      await gw.close();
    }
  }

  it('verifies the upstream certificate against a configured CA', async () => {
    const r = await get({ url: plainUrl, tls: { ca: [file('ca.crt', certs.ca.cert)] } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'secure hello');
  });

  it('refuses an upstream certificate it cannot verify (502, nothing leaks)', async () => {
    const r = await get({ url: plainUrl });
    assert.equal(r.status, 502);
    assert.equal(problemOf('application/problem+json', r.body).code, 'UPSTREAM_UNAVAILABLE');
    const wrongName = await get({
      url: plainUrl,
      tls: { ca: [file('ca2.crt', certs.ca.cert)], servername: 'other.example' },
    });
    assert.equal(wrongName.status, 502);
  });

  it('insecureSkipVerify works only when asked for, and says so loudly', async () => {
    const r = await get({ url: plainUrl, tls: { insecureSkipVerify: true } });
    assert.equal(r.status, 200);
    assert.ok(r.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('INSECURE')));
  });

  it('presents a client certificate to an upstream that requires one', async () => {
    const ca = file('ca3.crt', certs.ca.cert);
    const before = calls;
    const without = await get({ url: mutualUrl, tls: { ca: [ca] } });
    assert.equal(without.status, 502);
    assert.equal(calls, before);
    const withCert = await get({
      url: mutualUrl,
      tls: {
        ca: [ca],
        cert: file('client.crt', certs.client.cert),
        key: file('client.key', certs.client.key),
      },
    });
    assert.equal(withCert.status, 200);
  });

  it('a certificate without its key, or an unreadable CA, is a config error', async () => {
    await assert.rejects(
      startGateway({
        ...baseConfig('http://unused'),
        upstreams: { api: { url: plainUrl, tls: { cert: file('c.crt', certs.client.cert) } } },
      }),
      (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === 'upstreams.api.tls',
    );
    await assert.rejects(
      startGateway({
        ...baseConfig('http://unused'),
        upstreams: { api: { url: plainUrl, tls: { ca: [join(dir, 'missing.crt')] } } },
      }),
      (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === 'upstreams.api.tls.ca[0]',
    );
  });

  it('logs the failed verification without the library message', async () => {
    const gw = await startGateway({ ...baseConfig('http://unused'), upstreams: { api: { url: plainUrl } } });
    try {
      await fetch(`${gw.url}/items`);
      const line = await waitForLog(gw, (l) => l.msg === 'upstream call failed');
      assert.equal(typeof line.code, 'string');
    } finally {
      await gw.close();
    }
  });
});
