import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/*
 * The official SARIF 2.1.0 schema (OASIS, rtm.5 — the text published as the standard), as shipped
 * by @microsoft/jest-sarif. It is JSON Schema draft-04 ("$schema": draft-04, "id"), hence ajv's
 * draft-04 class; ajv-formats checks the uri and date-time formats the schema names.
 */
const SCHEMA_FILE = createRequire(import.meta.url).resolve(
  '@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json',
);
export const SARIF_SCHEMA = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
// unicodeRegExp off: the schema's "language" pattern has a stray "]" that only non-unicode regexes accept.
const ajv = new Ajv04.default({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats.default(ajv);

/** Validates a parsed SARIF log against the schema; `errors` is set when it is not valid. */
export const validateSarif = ajv.compile(SARIF_SCHEMA);
