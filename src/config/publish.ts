import { createDefaultRegistry } from '../plugins/index.js';
import { buildConfigSchema } from './schema.js';

/** The published JSON Schema text: the same schema the loader validates against. */
export function renderConfigSchema(): string {
  const schema = buildConfigSchema(createDefaultRegistry());
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }, null, 2)}\n`;
}
