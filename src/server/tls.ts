import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../config/errors.js';
import type { TlsConfig } from '../config/schema.js';

/**
 * TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only — no RSA key exchange, CBC, RC4, 3DES,
 * NULL or EXPORT. TLS 1.3 suites are all AEAD and stay at OpenSSL's defaults.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** What an HTTPS listener needs, read and checked once (at start-up, or on a certificate change). */
export interface TlsMaterial {
  readonly options: SecureContextOptions;
  /** Exact host names and "*.domain" wildcards → their contexts. */
  readonly sni: ReadonlyMap<string, SecureContext>;
  /** Every file the material was read from, to watch for changes. */
  readonly files: readonly string[];
}

function read(file: string, path: string, configFile: string | undefined): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      {
        file: configFile,
        path,
        reason: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        hint: 'give a readable PEM file',
      },
    ]);
  }
}

interface ClientCa {
  ca?: string[];
  crl?: string[];
}

function contextOptions(
  cert: string,
  key: string,
  minVersion: TlsConfig['minVersion'],
  client: ClientCa,
): SecureContextOptions {
  return {
    ...client,
    cert,
    key,
    minVersion,
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: 'X25519:P-256:P-384',
  };
}

function build(options: SecureContextOptions, path: string, configFile: string | undefined): SecureContext {
  try {
    return createSecureContext(options);
  } catch {
    // OpenSSL's message may quote key material; say only what is wrong.
    throw new ConfigError([
      {
        file: configFile,
        path,
        reason: 'the certificate or key is not valid PEM, or they do not match',
        hint: 'check the files with `openssl x509 -noout -text -in CERT`',
      },
    ]);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * A CA bundle must hold at least one certificate and nothing unparsable: OpenSSL accepts garbage
 * as "ca" silently, which would lock every client out after a bad rotation.
 */
export function checkCaBundle(pem: string, path: string, configFile: string | undefined): string {
  const blocks = pem.match(PEM_CERT) ?? [];
  const bad = (): ConfigError =>
    new ConfigError([
      {
        file: configFile,
        path,
        reason: 'not a PEM bundle of CA certificates',
        hint: 'one or more -----BEGIN CERTIFICATE----- blocks',
      },
    ]);
  if (blocks.length === 0) throw bad();
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw bad();
    }
  }
  return pem;
}

/** Reads and checks the listener's certificates; a problem is a ConfigError naming the config path. */
export function loadTls(tls: TlsConfig, path: string, configFile?: string): TlsMaterial {
  const files = [tls.cert, tls.key];
  const mtls = tls.clientCertificates;
  const client: ClientCa = {};
  if (mtls.mode !== 'off') {
    if (mtls.ca.length === 0) {
      throw new ConfigError([
        {
          file: configFile,
          path: `${path}.clientCertificates.ca`,
          reason: `mode "${mtls.mode}" needs at least one CA bundle`,
          hint: 'list the CA that signs your clients',
        },
      ]);
    }
    files.push(...mtls.ca, ...mtls.crl);
    client.ca = mtls.ca.map((f, i) => {
      const p = `${path}.clientCertificates.ca[${i}]`;
      return checkCaBundle(read(f, p, configFile), p, configFile);
    });
    if (mtls.crl.length)
      client.crl = mtls.crl.map((f, i) => read(f, `${path}.clientCertificates.crl[${i}]`, configFile));
  }
  const options = contextOptions(
    read(tls.cert, `${path}.cert`, configFile),
    read(tls.key, `${path}.key`, configFile),
    tls.minVersion,
    client,
  );
  build(options, path, configFile);
  const sni = new Map<string, SecureContext>();
  tls.sni.forEach((entry, i) => {
    const p = `${path}.sni[${i}]`;
    files.push(entry.cert, entry.key);
    const o = contextOptions(
      read(entry.cert, `${p}.cert`, configFile),
      read(entry.key, `${p}.key`, configFile),
      tls.minVersion,
      client,
    );
    sni.set(entry.hostname.toLowerCase(), build(o, p, configFile));
  });
  return { options, sni, files };
}

/** The SNI lookup: exact name first, then "*.parent" for one label; unknown names get the default. */
export function sniContext(
  sni: ReadonlyMap<string, SecureContext>,
  servername: string,
): SecureContext | undefined {
  const name = servername.toLowerCase();
  const exact = sni.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot === -1 ? undefined : sni.get(`*${name.slice(dot)}`);
}
