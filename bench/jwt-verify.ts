import { pathToFileURL } from 'node:url';
import { type CryptoKey, compactVerify, exportJWK, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import type { JwtSettings } from '../src/plugins/authenticate/jwt/schema.js';
import { JwtVerifier } from '../src/plugins/authenticate/jwt/verifier.js';

/**
 * Micro-benchmark: the cost of ONE uncached JWT verification (RS256 2048-bit, ES256 P-256), and
 * of the cached path the gateway takes for every later request with the same token.
 *
 *   jose          compactVerify alone (the signature check)
 *   uncached      JwtVerifier.verify with the cache off: parse, issuer, key, signature, claims, principal
 *   cached        JwtVerifier.lookup on a verified token (synchronous; the hot path)
 *
 * `node dist/bench/jwt-verify.js` prints a table; BENCH_JWT_MS sets the time per measurement
 * (default 1000). runJwtVerifyBench() returns the rows for `npm run bench`.
 */

export interface JwtBenchRow {
  readonly alg: 'RS256' | 'ES256';
  readonly path: 'jose' | 'uncached' | 'cached';
  readonly opsPerSec: number;
  readonly usPerOp: number;
}

async function measure(budgetMs: number, op: () => unknown): Promise<{ opsPerSec: number; usPerOp: number }> {
  // Warm-up: JIT and WebCrypto key caches.
  for (let i = 0; i < 50; i++) await op();
  let n = 0;
  const start = performance.now();
  const end = start + budgetMs;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 20; i++) {
      const r = op();
      if (r instanceof Promise) await r;
    }
    n += 20;
    now = performance.now();
  }
  const ms = now - start;
  return { opsPerSec: (n / ms) * 1000, usPerOp: (ms * 1000) / n };
}

function settings(
  alg: 'RS256' | 'ES256',
  jwk: Record<string, unknown>,
  cacheMaxEntries: number,
): JwtSettings {
  return {
    issuers: [
      {
        issuer: 'https://idp.bench',
        audience: ['api'],
        jwksUri: '',
        keys: [jwk],
        secret: '',
        algorithms: [alg],
        clockSkewSeconds: 30,
        maxAgeSeconds: 0,
        requiredClaims: {},
        typ: [],
        rolesClaim: 'roles',
        scopesClaim: 'scope',
        consumerClaim: 'client_id',
        tenantClaim: '',
        jwks: { cacheSeconds: 300, cooldownSeconds: 30, timeoutMs: 2000 },
      },
    ],
    queryParameter: '',
    forwardToken: true,
    cacheMaxEntries,
    revokedJtis: [],
  };
}

export async function runJwtVerifyBench(budgetMs = 1000): Promise<JwtBenchRow[]> {
  const rows: JwtBenchRow[] = [];
  const logger = pino({ level: 'silent' });
  for (const alg of ['RS256', 'ES256'] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'bench' };
    const token = await new SignJWT({
      sub: 'alice',
      client_id: 'bench-client',
      scope: 'orders:read orders:write',
      roles: ['reader'],
      jti: 'bench-jti',
    })
      .setProtectedHeader({ alg, kid: 'bench', typ: 'at+jwt' })
      .setIssuer('https://idp.bench')
      .setAudience('api')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey as CryptoKey);

    const jose = await measure(budgetMs, () => compactVerify(token, publicKey, { algorithms: [alg] }));
    rows.push({ alg, path: 'jose', ...jose });

    const uncached = new JwtVerifier(settings(alg, jwk, 0), { logger });
    await uncached.init();
    const check = await uncached.verify(token);
    if (!check.ok) throw new Error(`bench token refused: ${check.reason}`);
    rows.push({ alg, path: 'uncached', ...(await measure(budgetMs, () => uncached.verify(token))) });
    await uncached.close();

    const cached = new JwtVerifier(settings(alg, jwk, 100), { logger });
    await cached.init();
    await cached.verify(token);
    rows.push({ alg, path: 'cached', ...(await measure(budgetMs, () => cached.lookup(token, Date.now()))) });
    await cached.close();
  }
  return rows;
}

export function formatJwtBench(rows: readonly JwtBenchRow[]): string {
  const lines = ['| alg | path | ops/s | µs/op |', '|---|---|---:|---:|'];
  for (const r of rows)
    lines.push(
      `| ${r.alg} | ${r.path} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} | ${r.usPerOp.toFixed(2)} |`,
    );
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const budget = Number(process.env.BENCH_JWT_MS) || 1000;
  runJwtVerifyBench(budget).then(
    (rows) => {
      console.log(`JWT verification, one token at a time (node ${process.version}):\n`);
      console.log(formatJwtBench(rows));
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
