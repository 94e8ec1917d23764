import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withErrorTable } from '../src/core/errors-doc.js';

/** `npm run docs:errors`: regenerates the table in docs/errors.md from src/core/errors.ts. */
const target = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));
writeFileSync(target, withErrorTable(readFileSync(target, 'utf8')));
process.stdout.write(`wrote ${target}\n`);
