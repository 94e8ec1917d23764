import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { importPKCS8, SignJWT } from 'jose';
import type { RequestContext } from '../../../core/context.js';
import type { Principal } from '../../../core/principal.js';

export const UpstreamTokenSchema = Type.Object(
  {
    enabled: Type.Boolean({
      description:
        'Send the upstream a short-lived JWT signed by the gateway that states the verified identity (so the upstream can verify it instead of trusting plain headers).',
      default: false,
    }),
    header: Type.String({
      pattern: '^[a-z0-9-]+$',
      description: 'Header that carries it (any client copy is removed).',
      default: 'x-portcullis-identity',
    }),
    algorithm: Type.Union(
      ['ES256', 'EdDSA', 'RS256', 'PS256'].map((a) => Type.Literal(a)),
      { description: 'Signature algorithm; must match the private key.', default: 'ES256' },
    ),
    privateKeyFile: Type.String({
      description:
        'PKCS#8 PEM private key file (required when enabled). Publish its public key to upstreams.',
      default: '',
    }),
    keyId: Type.String({ description: '"kid" header, for key rotation at the upstream.', default: '' }),
    issuer: Type.String({ description: '"iss" claim.', default: 'portcullis' }),
    audience: Type.String({ description: '"aud" claim (empty: none).', default: '' }),
    ttlSeconds: Type.Integer({
      minimum: 10,
      maximum: 3600,
      description:
        'Lifetime of each token. A token is reused for the same principal during the first half of it.',
      default: 60,
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Gateway-signed identity token for the upstream.',
  },
);

type Settings = {
  readonly enabled: boolean;
  readonly header: string;
  readonly algorithm: string;
  readonly privateKeyFile: string;
  readonly keyId: string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
};

const MAX_CACHED = 10_000;

export interface UpstreamToken {
  /** A token for `principal`: a string from the cache, or a promise while a new one is signed. */
  cached(principal: Principal, ctx: RequestContext): string | Promise<string>;
  close(): void;
}

export async function createUpstreamToken(settings: Settings): Promise<UpstreamToken | undefined> {
  if (!settings.enabled) return undefined;
  if (settings.privateKeyFile === '')
    throw new Error('upstreamToken.privateKeyFile is required when enabled');
  let pem: string;
  try {
    pem = readFileSync(settings.privateKeyFile, 'utf8');
  } catch {
    throw new Error(`upstreamToken.privateKeyFile: cannot read ${settings.privateKeyFile}`);
  }
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    key = await importPKCS8(pem, settings.algorithm);
  } catch {
    throw new Error(
      `upstreamToken.privateKeyFile: not a PKCS#8 PEM private key for ${settings.algorithm} (${settings.privateKeyFile})`,
    );
  }
  const cache = new Map<string, { token: string; refreshAt: number }>();
  const pending = new Map<string, Promise<string>>();

  async function sign(principal: Principal): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({
      pcl: {
        kind: principal.kind,
        method: principal.method,
        consumer: principal.consumer,
        tenant: principal.tenant,
        roles: principal.roles,
        scopes: principal.scopes,
        credentialId: principal.credentialId,
      },
    })
      .setProtectedHeader(
        settings.keyId === ''
          ? { alg: settings.algorithm, typ: 'JWT' }
          : { alg: settings.algorithm, typ: 'JWT', kid: settings.keyId },
      )
      .setIssuer(settings.issuer)
      .setSubject(principal.id)
      .setIssuedAt(now)
      .setExpirationTime(now + settings.ttlSeconds);
    if (settings.audience !== '') jwt.setAudience(settings.audience);
    return jwt.sign(key);
  }

  return {
    cached(principal) {
      // Same principal id with other roles or scopes (a newer token) must not reuse the old claims.
      // Everything the token states is part of the key: two principals that differ in any of it
      // (same subject, another tenant or client) never share a token.
      const id = JSON.stringify([
        principal.id,
        principal.kind,
        principal.method,
        principal.consumer,
        principal.tenant,
        principal.credentialId,
        principal.roles,
        principal.scopes,
      ]);
      const hit = cache.get(id);
      if (hit !== undefined && hit.refreshAt > Date.now()) return hit.token;
      let wait = pending.get(id);
      if (wait === undefined) {
        wait = sign(principal).then(
          (token) => {
            pending.delete(id);
            if (cache.size >= MAX_CACHED) cache.clear();
            cache.set(id, { token, refreshAt: Date.now() + (settings.ttlSeconds * 1000) / 2 });
            return token;
          },
          (err: unknown) => {
            pending.delete(id);
            throw err;
          },
        );
        pending.set(id, wait);
      }
      return wait;
    },
    close() {
      cache.clear();
    },
  };
}
