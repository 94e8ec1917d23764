import type { Observability } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

/** Anomaly detection and alerts (being written). */
export function attachAnomaly(_obs: Observability, _config: ObservabilityConfig['anomaly']): void {}
