import type { Check } from './types.js';

/**
 * Every scan check, in the order they run (cheap and non-destructive first; checks that delete or
 * burst last). Each check module adds its one import and entry here.
 */
export const CHECKS: readonly Check[] = [];

/** The rule of every check, for --list-rules, the docs and SARIF. */
export function allRules() {
  return CHECKS.flatMap((c) => c.rules);
}
