/**
 * The attack detection engine's shared shapes. Detectors are pure functions over one decoded value;
 * the engine (engine.ts) extracts the inputs of a request, decodes each one, runs every detector on
 * every variant, and sums an anomaly score.
 */

/** Attack families; rule ids are "<family>-<name>" (e.g. "sqli-tautology"). */
export type Family =
  | 'sqli'
  | 'xss'
  | 'rce'
  | 'php'
  | 'lfi'
  | 'rfi'
  | 'ssrf'
  | 'nosql'
  | 'template'
  | 'ldap'
  | 'crlf'
  | 'jndi'
  | 'proto'
  | 'java'
  | 'xxe'
  | 'generic'
  | 'patch';

/** Where in the request a value was found. */
export type Location =
  | 'path'
  | 'query-name'
  | 'query'
  | 'header'
  | 'cookie-name'
  | 'cookie'
  | 'body'
  | 'body-name'
  | 'json-key'
  | 'json'
  | 'multipart-name'
  | 'multipart'
  | 'filename'
  | 'xml';

export interface Input {
  readonly location: Location;
  /** Parameter, header or cookie name; the JSON path ("$.items[0].name") for JSON leaves. */
  readonly name: string;
  readonly value: string;
}

/** Paranoia levels: 1 catches the unmistakable, 2 adds likely attacks, 3 adds what is merely suspicious. */
export type Paranoia = 1 | 2 | 3;

export interface Finding {
  /** Stable rule id, "<family>-<name>". */
  readonly rule: string;
  readonly family: Family;
  /** The lowest paranoia level at which this finding counts. */
  readonly pl: Paranoia;
  /** Anomaly score added: 5 critical (one is enough to block at the default threshold), 3 error, 2 warning. */
  readonly score: number;
}

/**
 * One detector: looks at one decoded value of one input and pushes what it finds. Must be linear
 * in the value's length (no backtracking-prone regular expressions), must not throw, and must not
 * keep state between calls.
 */
export interface Detector {
  readonly family: Family;
  detect(value: string, input: Input, out: Finding[]): void;
}
