import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { CHECKS } from '../index.js';
import { LINT_RULES } from '../lint/index.js';
import { renderRuleTables, withRuleTables } from './rule-table.js';

it('docs/scanner.md lists every scan and lint rule (run `node dist/scripts/write-scanner-docs.js`)', () => {
  const page = readFileSync(new URL('../../../../docs/scanner.md', import.meta.url), 'utf8');
  assert.equal(page, withRuleTables(page, renderRuleTables(CHECKS, LINT_RULES)));
});

it('every rule id is unique, kebab-case and prefixed by its family', () => {
  const ids = [...CHECKS.flatMap((c) => c.rules), ...LINT_RULES].map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, /^(api\d+|inj|lint-spec|lint-config)-[a-z0-9]+(-[a-z0-9]+)*$/, id);
});
