import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHECKS } from '../src/scanner/index.js';
import { LINT_RULES } from '../src/scanner/lint/index.js';
import { renderRuleTables, withRuleTables } from '../src/scanner/reporters/rule-table.js';

/** Regenerates the rule tables of docs/scanner.md from the checks' and lint's rules. */
const page = fileURLToPath(new URL('../../docs/scanner.md', import.meta.url));
writeFileSync(page, withRuleTables(readFileSync(page, 'utf8'), renderRuleTables(CHECKS, LINT_RULES)));
process.stdout.write(`wrote ${page}\n`);
