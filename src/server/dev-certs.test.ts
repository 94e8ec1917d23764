import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { certsDevCommand } from '../cli/certs.js';
import {
  createDevCertificates,
  type DevCertificates,
  type DevKeyPair,
  writeDevCertificates,
} from './dev-certs.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const TEST_TIMEOUT = 10_000;

interface Handshake {
  client: DevKeyPair;
  crl?: string;
  /** false: the server lets the client in and answers with its verdict instead (to learn why). */
  reject?: boolean;
  /** The CA the client trusts for the server certificate (default: the dev CA). */
  clientTrusts?: string;
}

/**
 * One real mTLS exchange on 127.0.0.1. The server answers "ok" for a verified client, or the
 * verification error code when it runs with rejectUnauthorized false. Under TLS 1.3 the client
 * finishes its handshake before the server has judged its certificate, and a rejecting node
 * server just closes, so "refused" means the connection ended without an answer.
 */
async function mtls(certs: DevCertificates, h: Handshake): Promise<string> {
  const server = tls.createServer(
    {
      cert: certs.server.cert,
      key: certs.server.key,
      ca: certs.ca.cert,
      requestCert: true,
      rejectUnauthorized: h.reject ?? true,
      ...(h.crl === undefined ? {} : { crl: [h.crl] }),
    },
    (socket) => socket.end(socket.authorized ? 'ok' : String(socket.authorizationError)),
  );
  server.on('tlsClientError', () => {}); // reported by the client side as "refused"
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: h.clientTrusts ?? certs.ca.cert,
        cert: h.client.cert,
        key: h.client.key,
      });
      let data = '';
      const done = (answer: string): void => {
        socket.destroy();
        resolve(answer);
      };
      socket.setTimeout(5_000, () => done('timeout'));
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString();
      });
      socket.on('end', () => done(data === '' ? 'refused' : data));
      socket.on('error', (err) => done(`client error: ${err.message}`));
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('dev certificates', () => {
  let certs: DevCertificates;
  let ca: X509Certificate;

  before(async () => {
    certs = await createDevCertificates();
    ca = new X509Certificate(certs.ca.cert);
  });

  it('makes a self-signed CA with P-256 keys', () => {
    assert.ok(ca.ca);
    assert.match(ca.subject, /CN=Portcullis Dev CA/);
    assert.equal(ca.subject, ca.issuer);
    assert.ok(ca.checkIssued(ca));
    assert.ok(ca.verify(ca.publicKey));
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const key = createPrivateKey(certs.ca.key);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('issues a server certificate for localhost, 127.0.0.1 and ::1', () => {
    const server = new X509Certificate(certs.server.cert);
    assert.match(server.subject, /CN=localhost/);
    assert.equal(server.issuer, ca.subject);
    assert.ok(server.checkIssued(ca));
    assert.ok(server.verify(ca.publicKey));
    assert.ok(!server.ca);
    assert.deepEqual(server.keyUsage, [SERVER_AUTH]);
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkIP('::1'), '::1');
    assert.equal(server.checkHost('example.com'), undefined);
  });

  it('issues client certificates with clientAuth, one of them from another CA', () => {
    for (const pair of [certs.client, certs.expiredClient, certs.revokedClient]) {
      const cert = new X509Certificate(pair.cert);
      assert.ok(cert.checkIssued(ca));
      assert.ok(cert.verify(ca.publicKey));
      assert.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
    }
    assert.match(new X509Certificate(certs.client.cert).subject, /CN=dev-client$/m);

    const otherCa = new X509Certificate(certs.otherCa.cert);
    const other = new X509Certificate(certs.otherClient.cert);
    assert.notEqual(otherCa.subject, ca.subject);
    assert.ok(other.checkIssued(otherCa));
    assert.ok(!other.checkIssued(ca));
    assert.ok(!other.verify(ca.publicKey));
  });

  it('sets validity windows from `now`; the expired client lies wholly in the past', async () => {
    const now = new Date('2030-06-15T12:00:00Z');
    const fixed = await createDevCertificates({ now });
    const inWindow = (pem: string): boolean => {
      const c = new X509Certificate(pem);
      return new Date(c.validFrom) <= now && now <= new Date(c.validTo);
    };
    assert.ok(inWindow(fixed.ca.cert));
    assert.ok(inWindow(fixed.server.cert));
    assert.ok(inWindow(fixed.client.cert));
    assert.ok(inWindow(fixed.otherClient.cert));
    const expired = new X509Certificate(fixed.expiredClient.cert);
    assert.ok(new Date(expired.validTo) < now);
    assert.ok(new Date(expired.validFrom) < new Date(expired.validTo));
    // And with the real clock.
    assert.ok(new Date(new X509Certificate(certs.expiredClient.cert).validTo) < new Date());
  });

  it('gives every certificate its own key and serial', () => {
    const all = [
      certs.ca,
      certs.server,
      certs.client,
      certs.expiredClient,
      certs.revokedClient,
      certs.otherCa,
      certs.otherClient,
    ];
    assert.equal(new Set(all.map((p) => p.key)).size, all.length);
    assert.equal(new Set(all.map((p) => new X509Certificate(p.cert).serialNumber)).size, all.length);
    assert.match(certs.crl, /^-----BEGIN X509 CRL-----\n/);
  });

  describe('real mTLS handshakes', () => {
    const t = { timeout: TEST_TIMEOUT };

    it('a strict server accepts the dev client', t, async () => {
      assert.equal(await mtls(certs, { client: certs.client }), 'ok');
    });

    it('refuses a client certificate from another CA', t, async () => {
      assert.equal(await mtls(certs, { client: certs.otherClient }), 'refused');
      assert.equal(
        await mtls(certs, { client: certs.otherClient, reject: false }),
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      );
    });

    it('refuses the expired client, because it expired', t, async () => {
      assert.equal(await mtls(certs, { client: certs.expiredClient }), 'refused');
      assert.equal(await mtls(certs, { client: certs.expiredClient, reject: false }), 'CERT_HAS_EXPIRED');
    });

    it('with the CRL: refuses the revoked client, still accepts the good one', t, async () => {
      assert.equal(await mtls(certs, { client: certs.revokedClient, crl: certs.crl }), 'refused');
      assert.equal(
        await mtls(certs, { client: certs.revokedClient, crl: certs.crl, reject: false }),
        'CERT_REVOKED',
      );
      assert.equal(await mtls(certs, { client: certs.client, crl: certs.crl }), 'ok');
    });

    it('without the CRL the revoked client is accepted (the CRL is what refuses it)', t, async () => {
      assert.equal(await mtls(certs, { client: certs.revokedClient }), 'ok');
    });

    it('a client that does not trust the dev CA refuses the server', t, async () => {
      const answer = await mtls(certs, { client: certs.client, clientTrusts: certs.otherCa.cert });
      assert.match(answer, /^client error: .*(unable to verify|self-signed|issuer)/i);
    });
  });

  describe('writeDevCertificates', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'portcullis-dev-certs-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes every file, keys with mode 0600, and returns the paths', async () => {
      const out = join(dir, 'nested', 'certs');
      const files = await writeDevCertificates(out, certs);
      assert.equal(files.ca.cert, join(out, 'ca.crt'));
      assert.equal(files.client.key, join(out, 'client.key'));
      assert.equal(files.crl, join(out, 'ca.crl'));
      assert.equal(await readFile(files.crl, 'utf8'), certs.crl);
      for (const name of [
        'ca',
        'server',
        'client',
        'expiredClient',
        'revokedClient',
        'otherCa',
        'otherClient',
      ] as const) {
        assert.equal(await readFile(files[name].cert, 'utf8'), certs[name].cert);
        assert.equal(await readFile(files[name].key, 'utf8'), certs[name].key);
        if (process.platform !== 'win32') assert.equal((await stat(files[name].key)).mode & 0o777, 0o600);
      }
      // Rewriting over existing files keeps keys private.
      await writeDevCertificates(out, certs);
      if (process.platform !== 'win32') assert.equal((await stat(files.server.key)).mode & 0o777, 0o600);
    });

    it('certs dev writes the set and prints paths and usage, never key material', async () => {
      const out = join(dir, 'cli');
      const sink = new PassThrough();
      let printed = '';
      sink.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
      });
      await certsDevCommand(out, sink);
      assert.match(printed, /server\.crt/);
      assert.match(printed, /curl --cacert/);
      assert.doesNotMatch(printed, /PRIVATE KEY|BEGIN/);
      const written = new X509Certificate(await readFile(join(out, 'client.crt'), 'utf8'));
      assert.ok(written.checkIssued(new X509Certificate(await readFile(join(out, 'ca.crt'), 'utf8'))));
      if (process.platform !== 'win32') assert.equal((await stat(join(out, 'ca.key'))).mode & 0o777, 0o600);
    });
  });
});
