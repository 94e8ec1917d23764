import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { ServerOptions } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
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

/** Reads a PEM file at start-up (or on reload); an unreadable file is a config error at `path`. */
export function readPemFile(file: string, path: string, configFile: string | undefined): string {
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
      return checkCaBundle(readPemFile(f, p, configFile), p, configFile);
    });
    if (mtls.crl.length)
      client.crl = mtls.crl.map((f, i) => readPemFile(f, `${path}.clientCertificates.crl[${i}]`, configFile));
  }
  const options = contextOptions(
    readPemFile(tls.cert, `${path}.cert`, configFile),
    readPemFile(tls.key, `${path}.key`, configFile),
    tls.minVersion,
    client,
  );
  build(options, path, configFile);
  const sni = new Map<string, SecureContext>();
  tls.sni.forEach((entry, i) => {
    const p = `${path}.sni[${i}]`;
    files.push(entry.cert, entry.key);
    const o = contextOptions(
      readPemFile(entry.cert, `${p}.cert`, configFile),
      readPemFile(entry.key, `${p}.key`, configFile),
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

/** An HTTPS server for one listener, and how to stop its timers and file watches. */
export interface TlsServer {
  readonly server: HttpsServer;
  stop(): void;
}

/**
 * The HTTPS server of a listener: certificates and client-certificate policy from the config,
 * renegotiation refused, session ticket keys rotated in memory, certificate files watched and
 * reloaded without a restart (a renewal that does not load keeps the running certificates).
 */
export function createTlsServer(
  tls: TlsConfig,
  httpOptions: ServerOptions,
  path: string,
  configFile: string | undefined,
  logger: Logger,
  listener: string,
): TlsServer {
  let material = loadTls(tls, path, configFile);
  const server = createHttpsServer({
    ...httpOptions,
    ...material.options,
    ALPNProtocols: ['http/1.1'],
    requestCert: tls.clientCertificates.mode !== 'off',
    rejectUnauthorized: tls.clientCertificates.mode === 'required',
    SNICallback: (servername, cb) => cb(null, sniContext(material.sni, servername)),
  });
  // Client-initiated renegotiation buys an attacker CPU and could swap the checked certificate.
  server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  const rotate = setInterval(
    () => server.setTicketKeys(randomBytes(48)),
    tls.ticketKeyRotationMinutes * 60_000,
  );
  rotate.unref();
  const onChange = (): void => {
    try {
      material = loadTls(tls, path, configFile);
      server.setSecureContext(material.options);
      logger.info({ listener }, 'TLS certificates reloaded');
    } catch (err) {
      logger.error(
        { listener, reason: err instanceof ConfigError ? err.issues : 'unreadable' },
        'TLS certificate reload failed; keeping the current ones',
      );
    }
  };
  const watched = [...material.files];
  for (const f of watched) watchFile(f, { interval: 1000, persistent: false }, onChange);
  return {
    server,
    stop() {
      clearInterval(rotate);
      for (const f of watched) unwatchFile(f, onChange);
    },
  };
}
