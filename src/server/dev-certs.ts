import { KeyObject, webcrypto } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API before it loads; ESM
// evaluates imports in order, so this line must stay above the x509 import.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/**
 * Development certificates: a throwaway CA, a localhost server certificate and a set of
 * client certificates for mTLS tests (good, expired, revoked, from another CA). Everything
 * is generated locally with WebCrypto; nothing touches the network. Not for production.
 */

// Explicit, so the library never depends on which global crypto happens to be present.
x509.cryptoProvider.set(webcrypto);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_DAYS = 10 * 365;
const LEAF_DAYS = 365;
// notBefore is backdated a little so a client with a slightly slow clock still accepts.
const SKEW_MS = 60 * 60 * 1000;

export interface DevKeyPair {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

export interface DevCertificates {
  /** The dev CA: trust this (and only in development). */
  ca: DevKeyPair;
  /** Server certificate for localhost, 127.0.0.1 and ::1 (serverAuth). */
  server: DevKeyPair;
  /** Client certificate CN=dev-client (clientAuth), signed by `ca`. */
  client: DevKeyPair;
  /** Signed by `ca`, but its validity window lies entirely in the past. */
  expiredClient: DevKeyPair;
  /** Signed by `ca` and listed in `crl`. */
  revokedClient: DevKeyPair;
  /** PEM CRL signed by `ca`, listing `revokedClient`. */
  crl: string;
  /** An unrelated CA, so tests can present a client certificate that `ca` never issued. */
  otherCa: DevKeyPair;
  /** Client certificate CN=dev-client signed by `otherCa`. */
  otherClient: DevKeyPair;
}

export type DevKeyPairName = Exclude<keyof DevCertificates, 'crl'>;

/** Paths written by writeDevCertificates, same shape as DevCertificates. */
export type DevCertificateFiles = { [K in DevKeyPairName]: { cert: string; key: string } } & { crl: string };

interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

function keyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

function pair(issued: Issued): DevKeyPair {
  return { cert: issued.cert.toString('pem'), key: keyPem(issued.keys.privateKey) };
}

async function createCa(cn: string, now: Date): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}, O=Portcullis development`,
    keys,
    notBefore: new Date(now.getTime() - SKEW_MS),
    notAfter: new Date(now.getTime() + CA_DAYS * DAY_MS),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      // cRLSign is needed for OpenSSL to accept a CRL signed by this CA.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

interface LeafOptions {
  cn: string;
  usage: 'serverAuth' | 'clientAuth';
  notBefore: Date;
  notAfter: Date;
  sans?: x509.JsonGeneralNames;
}

async function createLeaf(ca: Issued, opts: LeafOptions): Promise<Issued> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage[opts.usage]], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (opts.sans) extensions.push(new x509.SubjectAlternativeNameExtension(opts.sans, false));
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${opts.cn}, O=Portcullis development`,
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { cert, keys };
}

/** Generates the whole dev set in memory. `now` fixes the clock (tests); default is the current time. */
export async function createDevCertificates(options: { now?: Date } = {}): Promise<DevCertificates> {
  const now = options.now ?? new Date();
  const from = new Date(now.getTime() - SKEW_MS);
  const until = new Date(now.getTime() + LEAF_DAYS * DAY_MS);

  const ca = await createCa('Portcullis Dev CA', now);
  const otherCa = await createCa('Portcullis Other Dev CA', now);

  const server = await createLeaf(ca, {
    cn: 'localhost',
    usage: 'serverAuth',
    notBefore: from,
    notAfter: until,
    sans: [
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
      { type: 'ip', value: '::1' },
    ],
  });
  const client = await createLeaf(ca, {
    cn: 'dev-client',
    usage: 'clientAuth',
    notBefore: from,
    notAfter: until,
  });
  const expiredClient = await createLeaf(ca, {
    cn: 'dev-client-expired',
    usage: 'clientAuth',
    notBefore: new Date(now.getTime() - 30 * DAY_MS),
    notAfter: new Date(now.getTime() - DAY_MS),
  });
  const revokedClient = await createLeaf(ca, {
    cn: 'dev-client-revoked',
    usage: 'clientAuth',
    notBefore: from,
    notAfter: until,
  });
  const otherClient = await createLeaf(otherCa, {
    cn: 'dev-client',
    usage: 'clientAuth',
    notBefore: from,
    notAfter: until,
  });

  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subjectName,
    thisUpdate: from,
    nextUpdate: until,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey)],
    entries: [
      {
        serialNumber: revokedClient.cert.serialNumber,
        revocationDate: from,
        reason: x509.X509CrlReason.keyCompromise,
      },
    ],
  });

  return {
    ca: pair(ca),
    server: pair(server),
    client: pair(client),
    expiredClient: pair(expiredClient),
    revokedClient: pair(revokedClient),
    // OpenSSL (and so node:tls `crl`) reads only the "X509 CRL" PEM label, not the library's "CRL".
    crl: x509.PemConverter.encode(crl.rawData, 'X509 CRL'),
    otherCa: pair(otherCa),
    otherClient: pair(otherClient),
  };
}

const FILE_NAMES: Record<DevKeyPairName, string> = {
  ca: 'ca',
  server: 'server',
  client: 'client',
  expiredClient: 'expired-client',
  revokedClient: 'revoked-client',
  otherCa: 'other-ca',
  otherClient: 'other-client',
};

/**
 * Writes every certificate as NAME.crt and every key as NAME.key (mode 0600) into `dir`,
 * plus ca.crl. Existing files are overwritten. Returns the paths written.
 */
export async function writeDevCertificates(
  dir: string,
  certs: DevCertificates,
): Promise<DevCertificateFiles> {
  await mkdir(dir, { recursive: true });
  const crl = join(dir, 'ca.crl');
  await writeFile(crl, certs.crl);
  const files = { crl } as DevCertificateFiles;
  for (const name of Object.keys(FILE_NAMES) as DevKeyPairName[]) {
    const cert = join(dir, `${FILE_NAMES[name]}.crt`);
    const key = join(dir, `${FILE_NAMES[name]}.key`);
    await writeFile(cert, certs[name].cert);
    await writeFile(key, certs[name].key, { mode: 0o600 });
    // writeFile's mode applies only when the file is created; an older key keeps its mode otherwise.
    await chmod(key, 0o600);
    files[name] = { cert, key };
  }
  return files;
}
