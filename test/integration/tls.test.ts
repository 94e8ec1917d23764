import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ConnectionOptions, connect } from 'node:tls';
import { ConfigError } from '../../src/config/errors.js';
import { createDevCertificates, type DevCertificates } from '../../src/server/dev-certs.js';
import {
  baseConfig,
  problemOf,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsGet(url: string, ca: string, servername = 'localhost'): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Completes a TLS handshake (or fails it) and reports what was negotiated. */
function handshake(
  port: number,
  options: ConnectionOptions,
): Promise<{ protocol: string | null; subject: string; cipher: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      const cert = socket.getPeerCertificate();
      resolve({
        protocol: socket.getProtocol(),
        subject: String(cert.subject?.CN ?? ''),
        cipher: socket.getCipher().name,
      });
      socket.end();
    });
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy(new Error('timeout')));
  });
}

describe('HTTPS listeners', () => {
  let certs: DevCertificates;
  let dir: string;
  let upstream: TestUpstream;
  let gw: TestGateway;
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  before(async () => {
    certs = await createDevCertificates();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        listeners: [
          {
            name: 'tls',
            port: 0,
            tls: {
              cert: file('server.pem', certs.server.cert),
              key: file('server.key', certs.server.key),
              sni: [
                {
                  hostname: 'ca.test',
                  cert: file('ca.pem', certs.ca.cert),
                  key: file('ca.key', certs.ca.key),
                },
              ],
            },
          },
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('serves HTTPS with HSTS, and tells the upstream the scheme was https', async () => {
    assert.match(gw.url, /^https:\/\//);
    const res = await httpsGet(`${gw.url.replace('127.0.0.1', 'localhost')}/items`, certs.ca.cert);
    assert.equal(res.status, 200);
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    assert.equal(upstream.calls.at(-1)?.headers['x-forwarded-proto'], 'https');
  });

  it('negotiates TLS 1.2+ with an ECDHE AEAD suite and HTTP/1.1 by ALPN', async () => {
    const tls12 = await handshake(gw.port, { ca: certs.ca.cert, maxVersion: 'TLSv1.2' });
    assert.equal(tls12.protocol, 'TLSv1.2');
    assert.match(tls12.cipher, /^ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305)/);
    const tls13 = await handshake(gw.port, { ca: certs.ca.cert, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(tls13.protocol, 'TLSv1.3');
  });

  it('refuses TLS 1.0/1.1-only clients and clients offering only weak suites', async () => {
    await assert.rejects(
      handshake(gw.port, { ca: certs.ca.cert, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
    );
    for (const ciphers of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-SHA', 'DES-CBC3-SHA']) {
      await assert.rejects(
        handshake(gw.port, { ca: certs.ca.cert, maxVersion: 'TLSv1.2', ciphers }),
        ciphers,
      );
    }
  });

  it('chooses the certificate by SNI, and the default one for unknown names', async () => {
    const sni = await handshake(gw.port, { rejectUnauthorized: false, servername: 'ca.test' });
    const def = await handshake(gw.port, { rejectUnauthorized: false, servername: 'unknown.example' });
    assert.notEqual(sni.subject, def.subject);
    assert.equal(def.subject, (await handshake(gw.port, { ca: certs.ca.cert })).subject);
  });

  it('a TLS 1.3-only listener refuses TLS 1.2 clients', async () => {
    const strict = await startGateway(
      baseConfig(upstream.url, {
        listeners: [
          {
            name: 'tls13',
            port: 0,
            tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), minVersion: 'TLSv1.3' },
          },
        ],
      }),
    );
    try {
      await assert.rejects(handshake(strict.port, { ca: certs.ca.cert, maxVersion: 'TLSv1.2' }));
      assert.equal((await handshake(strict.port, { ca: certs.ca.cert })).protocol, 'TLSv1.3');
    } finally {
      await strict.close();
    }
  });

  it('reloads a certificate renewed on disk without a restart', async () => {
    const certPath = file('reload.pem', certs.server.cert);
    const keyPath = file('reload.key', certs.server.key);
    const g = await startGateway(
      baseConfig(upstream.url, {
        listeners: [{ name: 'r', port: 0, tls: { cert: certPath, key: keyPath } }],
      }),
    );
    try {
      const before = await handshake(g.port, { rejectUnauthorized: false });
      writeFileSync(certPath, certs.ca.cert);
      writeFileSync(keyPath, certs.ca.key);
      let after = before;
      for (let i = 0; i < 40 && after.subject === before.subject; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await handshake(g.port, { rejectUnauthorized: false });
      }
      assert.notEqual(after.subject, before.subject);
    } finally {
      await g.close();
    }
  });

  it('an unreadable or invalid certificate is a config error naming the path', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          listeners: [
            { name: 'x', port: 0, tls: { cert: join(dir, 'missing.pem'), key: join(dir, 'server.key') } },
          ],
        }),
      ),
      (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === 'listeners[0].tls.cert',
    );
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          listeners: [
            { name: 'x', port: 0, tls: { cert: join(dir, 'server.pem'), key: join(dir, 'ca.key') } },
          ],
        }),
      ),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.issues[0]?.path === 'listeners[0].tls' &&
        !err.message.includes('PRIVATE KEY'),
    );
  });
});

describe('plain-HTTP listener modes', () => {
  it('redirect answers 308 to https (method and body kept), refuse answers 403; nothing is proxied', async () => {
    const upstream = await startUpstream();
    const redirect = await startGateway(
      baseConfig(upstream.url, {
        listeners: [{ name: 'r', port: 0, plaintext: 'redirect', redirectPort: 8443 }],
      }),
    );
    const refuse = await startGateway(
      baseConfig(upstream.url, { listeners: [{ name: 'f', port: 0, plaintext: 'refuse' }] }),
    );
    try {
      // fetch will not send another Host; the raw request does.
      const r = await rawRequest(
        redirect.port,
        'POST /items?x=1 HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 2\r\n\r\n{}',
      );
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, 'https://api.example.com:8443/items?x=1');
      assert.equal(r.headers['strict-transport-security'], undefined);
      const absolute = await rawRequest(
        redirect.port,
        'GET http://x@evil.example/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n',
      );
      assert.equal(absolute.status, 400);
      assert.equal(absolute.headers.location, undefined);
      const hostile = await rawRequest(redirect.port, 'GET /items HTTP/1.1\r\nHost: evil.example/@x\r\n\r\n');
      assert.equal(hostile.status, 403);
      const f = await fetch(`${refuse.url}/items`);
      assert.equal(f.status, 403);
      assert.equal(problemOf(f.headers.get('content-type'), await f.text()).code, 'HTTPS_REQUIRED');
      assert.equal(upstream.calls.length, 0);
    } finally {
      await redirect.close();
      await refuse.close();
      await upstream.close();
    }
  });
});
