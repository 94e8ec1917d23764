import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { createDefaultRegistry } from '../plugins/index.js';
import { renderConfigReference, renderPluginReference, withBlock } from './reference.js';

const read = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

it('docs/config.md lists every setting as the schema defines it (run `npm run docs:reference`)', () => {
  const page = read('config.md');
  assert.equal(page, withBlock(page, 'config-reference', renderConfigReference()));
});

it('docs/plugins.md lists every built-in plugin and setting (run `npm run docs:reference`)', () => {
  const page = read('plugins.md');
  assert.equal(page, withBlock(page, 'plugin-reference', renderPluginReference(createDefaultRegistry())));
  for (const def of createDefaultRegistry().list()) assert.ok(page.includes(`### \`${def.name}\``), def.name);
});
