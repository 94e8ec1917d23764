import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigSchema } from '../src/config/publish.js';

/** `npm run schema`: writes schema/portcullis.schema.json for editors (yaml-language-server, VS Code). */
const target = fileURLToPath(new URL('../../schema/portcullis.schema.json', import.meta.url));
writeFileSync(target, renderConfigSchema());
process.stdout.write(`wrote ${target}\n`);
