import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfigText } from '../../config/load.js';
import { createDefaultRegistry } from '../../plugins/index.js';
import { inDictionary, WEAK_SECRETS, weakSecretReason } from '../dictionary.js';
import type { Finding } from '../types.js';
import { lintConfig } from './config.js';
import { LintError, runLint } from './index.js';

const registry = createDefaultRegistry();
const dir = mkdtempSync(join(tmpdir(), 'portcullis-lint-config-'));

// Random-looking, 48 bytes: strong enough for every check (never printed by the linter).
const STRONG = 'Vq3xT9pL2mZr8Kd4Wn6Yb1Hc5Jf7Gs0aQe2Ru4Ti6Oy8Pw1Sx';

type Cfg = Record<string, unknown>;

type Segment = string | number;
/** The object at a path inside a test document (throws when there is none): typed edits without casts. */
function obj(root: unknown, ...path: Segment[]): Record<string, unknown> {
  let node: unknown = root;
  for (const seg of path) node = (node as Record<string, unknown>)[seg];
  assert.ok(node !== null && typeof node === 'object', `no object at ${path.join('.')}`);
  return node as Record<string, unknown>;
}
function list(root: unknown, ...path: Segment[]): unknown[] {
  const node = path.reduce<unknown>((n, seg) => (n as Record<string, unknown>)[seg], root);
  assert.ok(Array.isArray(node), `no array at ${path.join('.')}`);
  return node;
}

/** A config that breaks no rule: every bad example below is one change away from it. */
function good(): Cfg {
  return {
    version: 1,
    listeners: [
      { name: 'public', host: '0.0.0.0', port: 8443, tls: { cert: 'c.pem', key: 'k.pem' } },
      { name: 'redirect', host: '0.0.0.0', port: 8080, plaintext: 'redirect', redirectPort: 8443 },
      { name: 'local', host: '127.0.0.1', port: 8081 },
    ],
    upstreams: { api: { url: 'http://127.0.0.1:9' } },
    plugins: {
      jwt: {
        issuers: [
          { issuer: 'https://idp.example', audience: ['api'], algorithms: ['HS256'], secret: STRONG },
        ],
      },
      'rate-limit': { limits: [{ name: 'burst', limit: 10, windowSeconds: 1 }] },
      authorization: { allow: 'authenticated' },
      cors: { origins: ['https://app.example.com', 'https://*.example.com'], credentials: true },
      'attack-detection': { mode: 'enforce' },
    },
    admin: {
      enabled: true,
      tokens: [{ name: 'ops', role: 'admin', token: STRONG }],
    },
    routes: [
      { id: 'users', path: '/users', methods: ['GET', 'POST'], upstream: 'api' },
      {
        id: 'orders',
        path: '/orders/:id',
        upstream: 'api',
        plugins: { 'rate-limit': { quotas: [{ name: 'daily', limit: 1000, period: 'day' }] } },
      },
    ],
  };
}

function lint(cfg: Cfg): { findings: Finding[]; text: string } {
  const text = stringify(cfg);
  const loaded = loadConfigText(text, 'portcullis.yaml', { registry, env: {} });
  return { findings: lintConfig(loaded, registry), text };
}

const variant = (change: (c: Cfg) => void): Cfg => {
  const c = good();
  change(c);
  return c;
};
const ids = (findings: readonly Finding[]): string[] => findings.map((f) => f.id).sort();
const of = (findings: readonly Finding[], rule: string): Finding[] =>
  findings.filter((f) => f.rule.id === rule);

describe('lint config: the good twin breaks no rule', () => {
  it('has no findings', () => {
    assert.deepEqual(ids(lint(good()).findings), []);
  });
});

describe('lint config: each rule fires on a minimal bad example', () => {
  it('lint-config-no-auth: anonymous allowed on a route, or authentication only watching', () => {
    const { findings } = lint(
      variant((c) => {
        obj(c, 'routes', 1, 'plugins').authentication = { anonymous: true };
      }),
    );
    const f = of(findings, 'lint-config-no-auth');
    assert.deepEqual(ids(f), ['lint-config-no-auth:routes[orders]']);
    assert.match(f[0]?.message ?? '', /anonymous/);
    const monitor = lint(variant((c) => (obj(c, 'plugins').authentication = { mode: 'monitor' }))).findings;
    assert.deepEqual(ids(of(monitor, 'lint-config-no-auth')), [
      'lint-config-no-auth:routes[orders]',
      'lint-config-no-auth:routes[users]',
    ]);
  });

  it('lint-config-no-rate-limit: no stage, a stage turned off, or one that limits nothing', () => {
    const { findings } = lint(
      variant((c) => {
        delete obj(c, 'plugins')['rate-limit'];
        list(c, 'routes').push({
          id: 'off',
          path: '/off',
          upstream: 'api',
          plugins: { 'rate-limit': false },
        });
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-config-no-rate-limit')), [
      'lint-config-no-rate-limit:routes[off]',
      'lint-config-no-rate-limit:routes[users]',
    ]);
    const monitor = lint(
      variant((c) => (obj(c, 'routes', 1, 'plugins', 'rate-limit').mode = 'monitor')),
    ).findings;
    assert.deepEqual(ids(of(monitor, 'lint-config-no-rate-limit')), [
      'lint-config-no-rate-limit:routes[orders]',
    ]);
  });

  it('lint-config-monitor-mode: reported once where it is written', () => {
    const { findings } = lint(
      variant((c) => {
        obj(c, 'plugins', 'attack-detection').mode = 'monitor';
        obj(c, 'routes', 1, 'plugins').contract = { mode: 'monitor' };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-config-monitor-mode')), [
      'lint-config-monitor-mode:plugins.attack-detection.mode',
      'lint-config-monitor-mode:routes[orders].plugins.contract.mode',
    ]);
    // A route that sets enforce over a global monitor is not in monitor mode.
    const over = lint(
      variant((c) => {
        obj(c, 'plugins', 'attack-detection').mode = 'monitor';
        obj(c, 'routes', 0).plugins = { 'attack-detection': { mode: 'enforce' } };
        obj(c, 'routes', 1, 'plugins')['attack-detection'] = false;
      }),
    ).findings;
    assert.deepEqual(ids(of(over, 'lint-config-monitor-mode')), []);
  });

  it('lint-config-weak-secret: short, dictionary, repeated; never the value in the finding', () => {
    const secrets = {
      jwt: 'your-256-bit-secret',
      route: 'secretsecretsecretsecretsecretsecret',
      sig: Buffer.from('hmac-key-too-short').toString('base64'),
      admin: 'a-string-secret-at-least-256-bits-long',
      pepper: 'short-pepper',
    };
    const { findings } = lint(
      variant((c) => {
        obj(c, 'plugins', 'jwt', 'issuers', 0).secret = secrets.jwt;
        obj(c, 'routes', 0).plugins = {
          jwt: {
            issuers: [
              { issuer: 'https://other', audience: ['x'], algorithms: ['HS256'], secret: secrets.route },
            ],
          },
        };
        obj(c, 'plugins')['http-signature'] = {
          keys: { k1: { algorithm: 'hmac-sha256', secret: secrets.sig } },
        };
        obj(c, 'admin', 'tokens', 0).token = secrets.admin;
        c.stores = { keys: { pepper: secrets.pepper } };
      }),
    );
    const f = of(findings, 'lint-config-weak-secret');
    assert.deepEqual(ids(f), [
      'lint-config-weak-secret:admin.tokens[0].token',
      'lint-config-weak-secret:plugins.http-signature.keys.k1.secret',
      'lint-config-weak-secret:plugins.jwt.issuers[0].secret',
      'lint-config-weak-secret:routes[users].plugins.jwt.issuers[0].secret',
      'lint-config-weak-secret:stores.keys.pepper',
    ]);
    assert.match(
      f.find((x) => x.where === 'plugins.jwt.issuers[0].secret')?.message ?? '',
      /^jwt issuer https:\/\/idp\.example secret is in the dictionary/,
    );
    assert.match(f.find((x) => x.where.startsWith('plugins.http-signature'))?.message ?? '', /18 bytes/);
    const printed = JSON.stringify(findings);
    for (const s of Object.values(secrets)) assert.ok(!printed.includes(s), 'a secret leaked into a finding');
  });

  it('lint-config-tls-off: plain HTTP served beyond loopback', () => {
    const { findings } = lint(
      variant((c) => list(c, 'listeners').push({ name: 'open', host: '::', port: 80 })),
    );
    assert.deepEqual(ids(of(findings, 'lint-config-tls-off')), ['lint-config-tls-off:listeners[open]']);
  });

  it('lint-config-cors-credentials-wildcard: "*" or a whole top-level domain with credentials', () => {
    const star = lint(variant((c) => (obj(c, 'plugins', 'cors').origins = ['*']))).findings;
    assert.deepEqual(ids(of(star, 'lint-config-cors-credentials-wildcard')), [
      'lint-config-cors-credentials-wildcard:plugins.cors',
    ]);
    const tld = lint(
      variant(
        (c) => (obj(c, 'routes', 0).plugins = { cors: { origins: ['https://*.com'], credentials: true } }),
      ),
    ).findings;
    assert.deepEqual(ids(of(tld, 'lint-config-cors-credentials-wildcard')), [
      'lint-config-cors-credentials-wildcard:routes[users].plugins.cors',
    ]);
    const noCredentials = lint(
      variant((c) => (obj(c, 'plugins').cors = { origins: ['*'], credentials: false })),
    ).findings;
    assert.deepEqual(ids(of(noCredentials, 'lint-config-cors-credentials-wildcard')), []);
  });

  it('lint-config-admin-exposed: beyond loopback; high without TLS, lower with it', () => {
    const plain = of(
      lint(variant((c) => (obj(c, 'admin').host = '0.0.0.0'))).findings,
      'lint-config-admin-exposed',
    );
    assert.deepEqual(
      plain.map((f) => [f.id, f.severity]),
      [['lint-config-admin-exposed:admin', 'high']],
    );
    const tls = of(
      lint(
        variant((c) => {
          obj(c, 'admin').host = '10.0.0.2';
          obj(c, 'admin').tls = { cert: 'a.pem', key: 'a-key.pem' };
          obj(c, 'admin').allowFrom = ['0.0.0.0/0'];
        }),
      ).findings,
      'lint-config-admin-exposed',
    );
    assert.deepEqual(
      tls.map((f) => [f.id, f.severity]),
      [['lint-config-admin-exposed:admin', 'medium']],
    );
    const off = lint(
      variant((c) => {
        obj(c, 'admin').host = '0.0.0.0';
        obj(c, 'admin').enabled = false;
      }),
    ).findings;
    assert.deepEqual(ids(of(off, 'lint-config-admin-exposed')), []);
  });
});

describe('lint config: locations', () => {
  it('points at the line where the problem is written', () => {
    const { findings, text } = lint(variant((c) => (obj(c, 'plugins', 'attack-detection').mode = 'monitor')));
    const f = of(findings, 'lint-config-monitor-mode')[0];
    const lines = text.split('\n');
    assert.equal(f?.location?.file, 'portcullis.yaml');
    assert.match(lines[(f?.location?.line ?? 0) - 1] ?? '', /^\s+mode: monitor/);
  });
});

describe('lint config: runLint over files, as the CLI calls it', () => {
  it('compiles the config, lints it, and says what it could not check (unset ${env:…})', async () => {
    const cfg = variant((c) => {
      c.listeners = [{ name: 'local', host: '127.0.0.1', port: 0 }];
      obj(c, 'plugins', 'jwt', 'issuers', 0).secret = '${env:LINT_TEST_UNSET_SECRET}';
      obj(c, 'plugins')['rate-limit'] = {
        mode: 'monitor',
        limits: [{ name: 'burst', limit: 10, windowSeconds: 1 }],
      };
    });
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(file, stringify(cfg));
    const { findings, notes } = await runLint({ config: file, env: {} });
    assert.deepEqual(ids(findings), [
      'lint-config-monitor-mode:plugins.rate-limit.mode',
      'lint-config-no-rate-limit:routes[orders]',
      'lint-config-no-rate-limit:routes[users]',
    ]);
    assert.match(notes.join('\n'), /LINT_TEST_UNSET_SECRET is not set/);
    assert.match(
      notes.join('\n'),
      /plugins\.jwt\.issuers\[0\]\.secret comes from an unset environment variable/,
    );
  });

  it('a weak secret from the environment is found and never printed', async () => {
    const cfg = variant((c) => {
      c.listeners = [{ name: 'local', host: '127.0.0.1', port: 0 }];
      obj(c, 'plugins', 'jwt', 'issuers', 0).secret = '${env:LINT_TEST_SECRET}';
    });
    const file = join(dir, 'env.yaml');
    writeFileSync(file, stringify(cfg));
    // Too short to compile: the gateway refuses it, and lint says so besides the finding.
    const { findings, notes } = await runLint({ config: file, env: { LINT_TEST_SECRET: 'changeme' } });
    assert.deepEqual(ids(findings), ['lint-config-weak-secret:plugins.jwt.issuers[0].secret']);
    assert.match(notes.join('\n'), /the gateway would refuse this config/);
    assert.ok(!JSON.stringify({ findings, notes }).includes('changeme'));
  });

  it('a config that does not compile is still linted statically (wildcard CORS with credentials)', async () => {
    const cfg = variant((c) => {
      c.listeners = [{ name: 'local', host: '127.0.0.1', port: 0 }];
      obj(c, 'plugins', 'cors').origins = ['*'];
    });
    const file = join(dir, 'cors.yaml');
    writeFileSync(file, stringify(cfg));
    const { findings, notes } = await runLint({ config: file, env: {} });
    assert.deepEqual(ids(findings), ['lint-config-cors-credentials-wildcard:plugins.cors']);
    assert.match(notes.join('\n'), /would refuse/);
  });

  it('needs a spec or a config', async () => {
    await assert.rejects(runLint({}), LintError);
  });
});

describe('weak secret dictionary', () => {
  it('has a few hundred entries and judges case-insensitively', () => {
    assert.ok(WEAK_SECRETS.length >= 300, `${WEAK_SECRETS.length} entries`);
    for (const s of [
      'secret',
      'password',
      'changeme',
      'your-256-bit-secret',
      'jwt_secret',
      'supersecret',
      '123456',
    ])
      assert.ok(WEAK_SECRETS.includes(s), s);
    assert.ok(inDictionary('SuperSecret'));
    assert.ok(!inDictionary(STRONG));
    assert.equal(weakSecretReason(STRONG), undefined);
    assert.equal(weakSecretReason('secretsecretsecretsecretsecretsecret'), 'repeats a dictionary word');
    assert.equal(weakSecretReason('xyzzyxyzzyxyzzyxyzzyxyzzyxyzzyxyzzy'), 'repeats a short pattern');
  });
});
