import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfigObject } from '../../config/load.js';
import { createDefaultRegistry } from '../../plugins/index.js';
import { CHECKS } from '../index.js';
import { SEVERITIES } from '../types.js';
import { api4ResourcesCheck } from './api4-resources.js';
import { api7SsrfCheck } from './api7-ssrf.js';
import { api8ConfigCheck } from './api8-config.js';
import { api9InventoryCheck } from './api9-inventory.js';
import { injectionCheck } from './injection.js';

const EXPECTED: Record<string, string[]> = {
  'api4-resources': ['api4-no-rate-limit', 'api4-large-page', 'api4-large-body', 'api4-slow-input'],
  'api7-ssrf': ['api7-ssrf', 'api7-ssrf-internal'],
  'api8-config': [
    'api8-security-headers',
    'api8-cors',
    'api8-verbose-errors',
    'api8-trace-enabled',
    'api8-plain-http',
    'api8-weak-tls',
    'api8-version-banner',
  ],
  'api9-inventory': ['api9-undocumented-endpoint', 'api9-old-version', 'api9-spec-mismatch'],
  injection: [
    'inj-sql-error',
    'inj-sql-boolean',
    'inj-sql-time',
    'inj-nosql',
    'inj-command-time',
    'inj-path-traversal',
  ],
};

const checks = [api4ResourcesCheck, api7SsrfCheck, api8ConfigCheck, api9InventoryCheck, injectionCheck];

/** The smallest config around a rule's snippet: one upstream, one public route (or the snippet's). */
function configAround(snippet: Record<string, unknown>): Record<string, unknown> {
  const publicRoute = { plugins: { authentication: { anonymous: true } } };
  const routes = Array.isArray(snippet.routes)
    ? snippet.routes.map((r: Record<string, unknown>) => ({ ...publicRoute, ...r }))
    : [{ ...publicRoute, id: 'api', path: snippet.versioning ? '/v2/*' : '/api/*', upstream: 'api' }];
  return { upstreams: { api: { url: 'http://127.0.0.1:9' } }, ...snippet, routes };
}

describe('rules of the API4, API7, API8, API9 and injection checks', () => {
  it('are the stable ids of the issue, each in its check and category, registered in CHECKS', () => {
    for (const check of checks) {
      assert.deepEqual(
        check.rules.map((r) => r.id),
        EXPECTED[check.id],
      );
      for (const rule of check.rules) {
        assert.equal(rule.category, check.category, rule.id);
        assert.ok(SEVERITIES.includes(rule.severity), rule.id);
        assert.ok(rule.title && rule.why && rule.fix, rule.id);
      }
      assert.ok(CHECKS.includes(check), `${check.id} is in CHECKS`);
    }
  });

  it('carry Portcullis config that the config schema accepts', () => {
    const registry = createDefaultRegistry();
    for (const rule of checks.flatMap((c) => c.rules)) {
      const snippet = parse(rule.portcullis) as Record<string, unknown>;
      assert.doesNotThrow(() => loadConfigObject(configAround(snippet), { registry, env: {} }), rule.id);
    }
  });
});
