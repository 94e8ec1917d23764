/**
 * The fixed lifecycle every request walks. Order here is the order of execution; a plugin belongs
 * to exactly one phase. See docs/lifecycle.md.
 */
export const PHASES = [
  'connection',
  'route',
  'guard',
  'authenticate',
  'rateLimit',
  'authorize',
  'validate',
  'proxy',
  'respond',
  'log',
] as const;

export type Phase = (typeof PHASES)[number];

/** Phases whose handlers run once per request before the upstream is called. */
export const REQUEST_PHASES: readonly Phase[] = [
  'guard',
  'authenticate',
  'rateLimit',
  'authorize',
  'validate',
];

/** Phases that run for every request whatever route it takes (the route is not known yet). */
export const GLOBAL_PHASES: readonly Phase[] = ['connection', 'route'];

export function phaseIndex(phase: Phase): number {
  return PHASES.indexOf(phase);
}
