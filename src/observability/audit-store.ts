import type { Observability } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

/** The audit trail in SQLite (being written). */
export function attachAudit(_obs: Observability, _config: ObservabilityConfig['audit']): void {}
