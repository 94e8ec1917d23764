import type { ClientCertificate } from '../../../core/context.js';
import type { AuthFailure, Principal } from '../../../core/principal.js';

export type SubjectFrom = 'subject-cn' | 'san-dns' | 'san-uri' | 'san-email' | 'fingerprint';

export interface PrincipalEntry {
  readonly consumer?: string | undefined;
  readonly tenant?: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

export interface MtlsSettings {
  readonly subjectFrom: SubjectFrom;
  readonly allowed: readonly string[];
  readonly principals: Readonly<Record<string, PrincipalEntry>>;
  readonly kind: 'service' | 'user' | 'consumer';
}

const FINGERPRINT_COLON = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;
const FINGERPRINT_PLAIN = /^[0-9A-Fa-f]{64}$/;

/**
 * A SHA-256 fingerprint in any common spelling ("ab:cd:…", "ABCD…") → Node's form, upper-case
 * colon-separated hex (as in ClientCertificate.fingerprint256 and the access log); anything else
 * → undefined. Only used on configuration, never on client input.
 */
export function canonicalFingerprint(value: string): string | undefined {
  if (FINGERPRINT_COLON.test(value)) return value.toUpperCase();
  if (FINGERPRINT_PLAIN.test(value)) return value.toUpperCase().replace(/(..)(?!$)/g, '$1:');
  return undefined;
}

const SAN_PREFIX: Record<'san-dns' | 'san-uri' | 'san-email', string> = {
  'san-dns': 'DNS:',
  'san-uri': 'URI:',
  'san-email': 'email:',
};

/**
 * Values of one SAN type. Node quotes a value holding characters that would make the list
 * ambiguous (`DNS:"a, b"`, a JSON string); such a value is read with JSON.parse, and skipped if it
 * does not parse (it was cut apart when the list was split).
 */
export function sansOf(cert: ClientCertificate, type: 'san-dns' | 'san-uri' | 'san-email'): string[] {
  const prefix = SAN_PREFIX[type];
  const out: string[] = [];
  for (const entry of cert.sans) {
    if (!entry.startsWith(prefix)) continue;
    let value = entry.slice(prefix.length);
    if (value.charCodeAt(0) === 34) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (typeof parsed !== 'string') continue;
        value = parsed;
      } catch {
        continue;
      }
    }
    if (value === '') continue;
    // DNS names compare case-insensitively (RFC 4343).
    out.push(type === 'san-dns' ? value.toLowerCase() : value);
  }
  return out;
}

/** Normalizes a configured subject for comparison with the mapped certificate subject. */
export function normalizeConfiguredSubject(subjectFrom: SubjectFrom, value: string): string {
  if (subjectFrom === 'fingerprint') return canonicalFingerprint(value) ?? value;
  if (subjectFrom === 'san-dns') return value.toLowerCase();
  return value;
}

const METHOD = 'mtls';

function failure(reason: string, credentialId: string): AuthFailure {
  return Object.freeze({ method: METHOD, reason, credentialId });
}

/**
 * The decision for one verified-or-not certificate, computed once per certificate (the listener
 * reuses one ClientCertificate object for the whole TLS session).
 */
export function createIdentityMapper(
  settings: MtlsSettings,
): (cert: ClientCertificate) => Principal | AuthFailure {
  const from = settings.subjectFrom;
  const allowed =
    settings.allowed.length === 0
      ? undefined
      : new Set(settings.allowed.map((a) => normalizeConfiguredSubject(from, a)));
  const principals = new Map<string, PrincipalEntry>();
  for (const [key, entry] of Object.entries(settings.principals)) {
    // A fingerprint key may be written in any spelling; other keys are mapped subjects.
    const fp = canonicalFingerprint(key);
    principals.set(fp ?? normalizeConfiguredSubject(from, key), entry);
  }

  function candidates(cert: ClientCertificate): string[] {
    switch (from) {
      case 'subject-cn':
        return cert.subject === '' ? [] : [cert.subject];
      case 'fingerprint':
        return [cert.fingerprint256.toUpperCase()];
      default:
        return sansOf(cert, from);
    }
  }

  return function mapCertificate(cert: ClientCertificate): Principal | AuthFailure {
    const fingerprint = cert.fingerprint256.toUpperCase();
    if (!cert.verified) return failure('certificate_not_verified', fingerprint);
    let names = candidates(cert);
    if (names.length === 0) return failure('certificate_subject_missing', fingerprint);
    if (allowed !== undefined) {
      names = names.filter((n) => allowed.has(n));
      if (names.length === 0) return failure('certificate_not_allowed', fingerprint);
    }
    // With several SANs of the type, the first one that names a configured principal wins.
    const subject = names.find((n) => principals.has(n)) ?? (names[0] as string);
    const entry = principals.get(subject) ?? principals.get(fingerprint);
    const principal: Principal = {
      id: `mtls:${fingerprint}`,
      kind: settings.kind,
      subject,
      ...(entry?.consumer !== undefined ? { consumer: entry.consumer } : {}),
      ...(entry?.tenant !== undefined ? { tenant: entry.tenant } : {}),
      roles: Object.freeze([...(entry?.roles ?? [])]),
      scopes: Object.freeze([...(entry?.scopes ?? [])]),
      claims: Object.freeze({
        cn: cert.subject,
        issuer: cert.issuer,
        sans: Object.freeze([...cert.sans]),
        serialNumber: cert.serialNumber,
        notAfter: cert.validTo,
      }),
      credentialId: fingerprint,
      method: METHOD,
    };
    return Object.freeze(principal);
  };
}

export function isPrincipal(v: Principal | AuthFailure): v is Principal {
  return 'id' in v;
}
