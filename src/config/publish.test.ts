import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { renderConfigSchema } from './publish.js';

it('schema/portcullis.schema.json is in step with the config types (run `npm run schema` after a change)', () => {
  const published = readFileSync(new URL('../../../schema/portcullis.schema.json', import.meta.url), 'utf8');
  assert.equal(published, renderConfigSchema());
});

it('every setting in the published schema has a description', () => {
  const missing: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object') return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        const d = (v as { description?: unknown }).description;
        const anyOfDescribed = ((v as { anyOf?: { description?: unknown }[] }).anyOf ?? []).some(
          (b) => typeof b.description === 'string',
        );
        if (typeof d !== 'string' && !anyOfDescribed && k !== '$schema') missing.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
    }
    for (const key of ['items', 'additionalProperties', 'patternProperties', 'anyOf']) {
      const child = (node as Record<string, unknown>)[key];
      if (Array.isArray(child)) {
        for (const c of child) walk(c, path);
      } else walk(child, path);
    }
  };
  walk(JSON.parse(renderConfigSchema()), '');
  assert.deepEqual(missing, []);
});
