import type { Detector } from '../types.js';

/** Every built-in detector, in the order they run. Each family lives in its own file. */
export const DETECTORS: readonly Detector[] = [];
