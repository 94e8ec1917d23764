import type { LoadedConfig } from '../config/load.js';
import { attachAnomaly } from './anomaly.js';
import { attachAudit } from './audit-store.js';
import type { Observability } from './hub.js';
import { attachMetrics } from './metrics.js';
import { attachTracing } from './tracing.js';

/**
 * Attaches the configured parts to the hub, once per gateway process. Each part lives in its own
 * file and registers itself (observers, event listeners, closers) on the hub.
 */
export function attachParts(obs: Observability, loaded: LoadedConfig): void {
  const c = loaded.config.observability;
  if (c.metrics.enabled) attachMetrics(obs, c.metrics, loaded);
  if (c.audit.enabled) attachAudit(obs, c.audit);
  if (c.anomaly.enabled) attachAnomaly(obs, c.anomaly);
  attachTracing(obs);
}
