import { api1Bola } from './checks/api1-bola.js';
import { api2Auth } from './checks/api2-auth.js';
import { api3Properties } from './checks/api3-properties.js';
import { api4ResourcesCheck } from './checks/api4-resources.js';
import { api5FunctionLevel } from './checks/api5-function-level.js';
import { api7SsrfCheck } from './checks/api7-ssrf.js';
import { api8ConfigCheck } from './checks/api8-config.js';
import { api9InventoryCheck } from './checks/api9-inventory.js';
import { injectionCheck } from './checks/injection.js';
import type { Check } from './types.js';

/**
 * Every scan check, in the order they run (cheap and non-destructive first; checks that delete or
 * burst last). Each check module adds its one import and entry here.
 */
export const CHECKS: readonly Check[] = [
  api8ConfigCheck,
  api9InventoryCheck,
  api2Auth,
  api3Properties,
  api5FunctionLevel,
  injectionCheck,
  api7SsrfCheck,
  api1Bola,
  api4ResourcesCheck,
];

/** The rule of every check, for --list-rules, the docs and SARIF. */
export function allRules() {
  return CHECKS.flatMap((c) => c.rules);
}
