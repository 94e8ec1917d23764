import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDefaultRegistry } from '../plugins/index.js';
import { ConfigError } from './errors.js';
import { loadConfigObject, loadConfigText } from './load.js';

const registry = createDefaultRegistry();

const GOOD = `
listeners:
  - name: public
    port: 8080
upstreams:
  api:
    url: http://127.0.0.1:3001
routes:
  - id: hello
    path: /hello
    upstream: api
`;

function issuesOf(fn: () => unknown): ConfigError['issues'] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('config loading', () => {
  it('applies defaults and freezes the result', () => {
    const { config } = loadConfigText(GOOD, 'p.yaml', { registry, env: {} });
    assert.equal(config.listeners[0]?.host, '127.0.0.1');
    assert.equal(config.listeners[0]?.maxHeaderBytes, 16384);
    assert.equal(config.upstreams.api?.connections, 128);
    assert.deepEqual(config.routes[0]?.methods, ['GET', 'HEAD']);
    assert.equal(config.errors.typeBase, 'urn:portcullis:error:');
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.routes[0]));
    assert.throws(() => {
      (config.listeners[0] as { port: number }).port = 1;
    }, TypeError);
  });

  it('names file, line and column for a YAML syntax error', () => {
    const [issue] = issuesOf(() =>
      loadConfigText('routes:\n  - id: a\n   path: [unclosed\n', 'bad.yaml', { registry }),
    );
    assert.equal(issue?.file, 'bad.yaml');
    assert.equal(typeof issue?.line, 'number');
    assert.equal(typeof issue?.column, 'number');
    assert.match(issue?.reason ?? '', /^YAML syntax/);
  });

  it('refuses duplicate keys', () => {
    const [issue] = issuesOf(() => loadConfigText(`${GOOD}\nroutes: []\n`, 'dup.yaml', { registry }));
    assert.match(issue?.reason ?? '', /YAML syntax/);
    assert.match(issue?.hint ?? '', /once/);
  });

  it('refuses unknown keys with the path, the line and a did-you-mean hint', () => {
    const text = GOOD.replace('    port: 8080', '    port: 8080\n    maxConection: 5');
    const [issue] = issuesOf(() => loadConfigText(text, 'p.yaml', { registry }));
    assert.equal(issue?.path, 'listeners[0].maxConection');
    assert.equal(issue?.reason, 'unknown key "maxConection"');
    assert.equal(issue?.hint, 'did you mean "maxConnections"?');
    assert.equal(issue?.line, 5);
    assert.equal(issue?.column, 5);
  });

  it('reports type errors with the config path and a hint', () => {
    const [issue] = issuesOf(() =>
      loadConfigText(GOOD.replace('port: 8080', 'port: eighty'), 'p.yaml', { registry }),
    );
    assert.equal(issue?.path, 'listeners[0].port');
    assert.equal(issue?.reason, 'must be an integer');
    assert.match(issue?.hint ?? '', /TCP port/);
  });

  it('refuses unknown plugins and bad plugin settings', () => {
    const unknown = issuesOf(() =>
      loadConfigText(`${GOOD}plugins:\n  request-gaurd: {}\n`, 'p.yaml', { registry }),
    );
    assert.equal(unknown[0]?.path, 'plugins.request-gaurd');
    assert.equal(unknown[0]?.hint, 'did you mean "request-guard"?');
    const bad = issuesOf(() =>
      loadConfigText(`${GOOD}plugins:\n  request-guard:\n    mode: audit\n`, 'p.yaml', { registry }),
    );
    assert.equal(bad[0]?.path, 'plugins.request-guard.mode');
    assert.equal(bad[0]?.reason, 'must be one of "enforce", "monitor"');
  });

  it('refuses a bad method with the allowed values', () => {
    const [issue] = issuesOf(() =>
      loadConfigText(GOOD.replace('upstream: api', 'upstream: api\n    methods: [GET, FETCH]'), 'p.yaml', {
        registry,
      }),
    );
    assert.equal(issue?.path, 'routes[0].methods[1]');
    assert.match(issue?.reason ?? '', /"GET", "HEAD", "POST"/);
  });

  it('substitutes ${env:NAME}, converts whole numeric values, and records secret paths', () => {
    const text = GOOD.replace('port: 8080', 'port: ${env:PORT}').replace(
      'http://127.0.0.1:3001',
      'http://${env:UP_HOST:-localhost}:3001',
    );
    const loaded = loadConfigText(text, 'p.yaml', { registry, env: { PORT: '9090' } });
    assert.equal(loaded.config.listeners[0]?.port, 9090);
    assert.equal(loaded.config.upstreams.api?.url, 'http://localhost:3001');
    assert.ok(loaded.secretPaths.has('upstreams.api.url'));
  });

  it('reports a missing environment variable without echoing any value', () => {
    const text = GOOD.replace('http://127.0.0.1:3001', '${env:UPSTREAM_URL}');
    const [issue] = issuesOf(() => loadConfigText(text, 'p.yaml', { registry, env: {} }));
    assert.equal(issue?.path, 'upstreams.api.url');
    assert.equal(issue?.reason, 'environment variable UPSTREAM_URL is not set');
  });

  it('never prints a secret value in an error', () => {
    const text = GOOD.replace('port: 8080', 'port: ${env:PORT}');
    const err = issuesOf(() => loadConfigText(text, 'p.yaml', { registry, env: { PORT: 'hunter2-secret' } }));
    assert.ok(!JSON.stringify(err).includes('hunter2-secret'));
  });

  it('validates config objects from code the same way', () => {
    const issues = issuesOf(() => loadConfigObject({ upstreams: {}, routes: [] }, { registry }));
    assert.ok(issues.some((i) => i.path === 'routes' && /fewer than 1|must NOT have fewer/.test(i.reason)));
  });

  it('refuses a document that is not a mapping', () => {
    const [issue] = issuesOf(() => loadConfigText('- just\n- a list\n', 'p.yaml', { registry }));
    assert.match(issue?.reason ?? '', /mapping/);
  });
});
