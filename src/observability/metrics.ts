import type { Observability } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

/** Prometheus metrics (being written). */
export function attachMetrics(_obs: Observability, _config: ObservabilityConfig['metrics']): void {}
