import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientCertificate, RequestContext } from '../../../core/context.js';
import type { CreateContext, PluginDeps } from '../../../core/plugin.js';
import type { AuthFailure, Principal } from '../../../core/principal.js';
import type { Stores } from '../../../stores/types.js';
import { canonicalFingerprint, createIdentityMapper, type MtlsSettings, sansOf } from './identity.js';
import mtls from './index.js';

const FP = `${'AB:'.repeat(31)}CD`;
const FP_PLAIN = FP.replaceAll(':', '').toLowerCase();

function cert(over: Partial<ClientCertificate> = {}): ClientCertificate {
  return {
    subject: 'billing-service',
    issuer: 'Internal CA',
    sans: ['DNS:Billing.Internal.Example', 'URI:spiffe://example.org/billing', 'email:ops@example.org'],
    fingerprint256: FP,
    serialNumber: '01',
    validFrom: 'Jan 1 00:00:00 2025 GMT',
    validTo: 'Jan 1 00:00:00 2030 GMT',
    verified: true,
    error: undefined,
    ...over,
  };
}

function settings(over: Partial<MtlsSettings> = {}): MtlsSettings {
  return { subjectFrom: 'subject-cn', allowed: [], principals: {}, kind: 'service', ...over };
}

const asPrincipal = (v: Principal | AuthFailure): Principal => {
  assert.ok('id' in v, `expected a principal, got ${JSON.stringify(v)}`);
  return v as Principal;
};
const asFailure = (v: Principal | AuthFailure): AuthFailure => {
  assert.ok(!('id' in v), 'expected a failure');
  return v as AuthFailure;
};

describe('mtls identity mapping', () => {
  it('maps the subject CN of a verified certificate to a frozen service principal', () => {
    const p = asPrincipal(createIdentityMapper(settings())(cert()));
    assert.equal(p.id, `mtls:${FP}`);
    assert.equal(p.kind, 'service');
    assert.equal(p.subject, 'billing-service');
    assert.equal(p.credentialId, FP);
    assert.equal(p.method, 'mtls');
    assert.deepEqual(p.roles, []);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.roles) && Object.isFrozen(p.claims));
    assert.equal(p.claims.issuer, 'Internal CA');
  });

  it('an unverified certificate is refused with certificate_not_verified', () => {
    const f = asFailure(
      createIdentityMapper(settings())(cert({ verified: false, error: 'CERT_HAS_EXPIRED' })),
    );
    assert.equal(f.reason, 'certificate_not_verified');
    assert.equal(f.method, 'mtls');
    assert.equal(f.credentialId, FP);
  });

  it('maps SANs (DNS case-insensitively, URI, e-mail) and the fingerprint', () => {
    assert.equal(
      asPrincipal(createIdentityMapper(settings({ subjectFrom: 'san-dns' }))(cert())).subject,
      'billing.internal.example',
    );
    assert.equal(
      asPrincipal(createIdentityMapper(settings({ subjectFrom: 'san-uri' }))(cert())).subject,
      'spiffe://example.org/billing',
    );
    assert.equal(
      asPrincipal(createIdentityMapper(settings({ subjectFrom: 'san-email' }))(cert())).subject,
      'ops@example.org',
    );
    assert.equal(
      asPrincipal(createIdentityMapper(settings({ subjectFrom: 'fingerprint' }))(cert())).subject,
      FP,
    );
  });

  it('a certificate without the chosen subject part is refused', () => {
    const f = asFailure(createIdentityMapper(settings({ subjectFrom: 'san-uri' }))(cert({ sans: [] })));
    assert.equal(f.reason, 'certificate_subject_missing');
    assert.equal(
      asFailure(createIdentityMapper(settings())(cert({ subject: '' }))).reason,
      'certificate_subject_missing',
    );
  });

  it('allowed lists restrict callers after mapping', () => {
    const map = createIdentityMapper(
      settings({ subjectFrom: 'san-dns', allowed: ['BILLING.internal.example'] }),
    );
    assert.equal(asPrincipal(map(cert())).subject, 'billing.internal.example');
    assert.equal(asFailure(map(cert({ sans: ['DNS:evil.example'] }))).reason, 'certificate_not_allowed');
    // Case matters for the CN (it is not a DNS name).
    const cn = createIdentityMapper(settings({ allowed: ['Billing-Service'] }));
    assert.equal(asFailure(cn(cert())).reason, 'certificate_not_allowed');
    // Fingerprints in any spelling.
    const fp = createIdentityMapper(settings({ subjectFrom: 'fingerprint', allowed: [FP_PLAIN] }));
    assert.equal(asPrincipal(fp(cert())).subject, FP);
  });

  it('with several SANs, picks an allowed one that names a principal', () => {
    const map = createIdentityMapper(
      settings({
        subjectFrom: 'san-uri',
        allowed: ['spiffe://example.org/b', 'spiffe://example.org/c'],
        principals: { 'spiffe://example.org/c': { roles: ['c'], scopes: [] } },
      }),
    );
    const p = asPrincipal(
      map(
        cert({
          sans: ['URI:spiffe://example.org/a', 'URI:spiffe://example.org/b', 'URI:spiffe://example.org/c'],
        }),
      ),
    );
    assert.equal(p.subject, 'spiffe://example.org/c');
    assert.deepEqual(p.roles, ['c']);
  });

  it('principal details come from the subject entry, else the fingerprint entry', () => {
    const map = createIdentityMapper(
      settings({
        kind: 'consumer',
        principals: {
          'billing-service': {
            consumer: 'billing',
            tenant: 't1',
            roles: ['writer'],
            scopes: ['invoices:write'],
          },
          [FP_PLAIN]: { consumer: 'by-fingerprint', roles: [], scopes: [] },
        },
      }),
    );
    const p = asPrincipal(map(cert()));
    assert.equal(p.kind, 'consumer');
    assert.equal(p.consumer, 'billing');
    assert.equal(p.tenant, 't1');
    assert.deepEqual(p.scopes, ['invoices:write']);
    const other = asPrincipal(map(cert({ subject: 'unknown' })));
    assert.equal(other.consumer, 'by-fingerprint');
    assert.equal(other.tenant, undefined);
  });

  it('reads Node-quoted SAN values and skips ones that do not parse', () => {
    const c = cert({ sans: ['DNS:"a\\u002c b.example"', 'DNS:"broken', 'URI:x', 'DNS:'] });
    assert.deepEqual(sansOf(c, 'san-dns'), ['a, b.example']);
  });

  it('canonical fingerprints', () => {
    assert.equal(canonicalFingerprint(FP_PLAIN), FP);
    assert.equal(canonicalFingerprint(FP.toLowerCase()), FP);
    assert.equal(canonicalFingerprint('abc'), undefined);
    assert.equal(canonicalFingerprint(`${FP_PLAIN}00`), undefined);
  });
});

describe('mtls plugin', () => {
  const stores = {} as Stores;
  const deps = { stores } as unknown as PluginDeps;
  const createCtx = { deps, route: undefined, configPath: 'routes[0].plugins.mtls' } as CreateContext;
  const config = (over: Record<string, unknown> = {}) =>
    ({ ...settings(), mode: 'enforce', ...over }) as Parameters<typeof mtls.create>[0];
  const request = (clientCertificate: ClientCertificate | undefined) =>
    ({ clientCertificate, principal: undefined, authFailure: undefined }) as unknown as RequestContext;

  it('returns an empty challenge and does nothing without a certificate', async () => {
    const h = await mtls.create(config(), createCtx);
    assert.equal(h.challenge, '');
    const ctx = request(undefined);
    h.onRequest?.(ctx);
    assert.equal(ctx.principal, undefined);
    assert.equal(ctx.authFailure, undefined);
  });

  it('sets the principal once per certificate object, and never over an earlier decision', async () => {
    const h = await mtls.create(config(), createCtx);
    const c = cert();
    const a = request(c);
    const b = request(c);
    h.onRequest?.(a);
    h.onRequest?.(b);
    assert.ok(a.principal !== undefined);
    assert.equal(a.principal, b.principal);
    const earlier = request(c);
    earlier.authFailure = { method: 'jwt', reason: 'expired' };
    h.onRequest?.(earlier);
    assert.equal(earlier.principal, undefined);
  });

  it('an unverified certificate sets authFailure', async () => {
    const h = await mtls.create(config(), createCtx);
    const ctx = request(cert({ verified: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }));
    h.onRequest?.(ctx);
    assert.equal(ctx.principal, undefined);
    assert.equal(ctx.authFailure?.reason, 'certificate_not_verified');
  });

  it('refuses to start with a non-fingerprint in allowed when mapping by fingerprint', () => {
    assert.throws(
      () => mtls.create(config({ subjectFrom: 'fingerprint', allowed: ['not-a-fingerprint'] }), createCtx),
      /allowed\[0\] is not a SHA-256 fingerprint/,
    );
  });
});
