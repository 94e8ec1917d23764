import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference, renderPluginReference, withBlock } from '../src/config/reference.js';
import { createDefaultRegistry } from '../src/plugins/index.js';

/** `npm run docs:reference`: regenerates the settings tables in docs/config.md and docs/plugins.md. */
const config = fileURLToPath(new URL('../../docs/config.md', import.meta.url));
const plugins = fileURLToPath(new URL('../../docs/plugins.md', import.meta.url));
writeFileSync(config, withBlock(readFileSync(config, 'utf8'), 'config-reference', renderConfigReference()));
writeFileSync(
  plugins,
  withBlock(
    readFileSync(plugins, 'utf8'),
    'plugin-reference',
    renderPluginReference(createDefaultRegistry()),
  ),
);
process.stdout.write(`wrote ${config}\nwrote ${plugins}\n`);
