import type { Detector } from '../types.js';
import { crlfDetector } from './crlf.js';
import { genericDetector } from './generic.js';
import { jndiDetector } from './jndi.js';
import { ldapDetector } from './ldap.js';
import { nosqlDetector } from './nosql.js';
import { phpDetector } from './php.js';
import { protoDetector } from './proto.js';
import { shellDetector } from './shell.js';
import { sqliDetector } from './sqli.js';
import { ssrfDetector } from './ssrf.js';
import { templateDetector } from './template.js';
import { rfiDetector, traversalDetector } from './traversal.js';
import { xssDetector } from './xss.js';

/** Every built-in detector, in the order they run. Each family lives in its own file. */
export const DETECTORS: readonly Detector[] = [
  sqliDetector,
  traversalDetector,
  rfiDetector,
  ssrfDetector,
  genericDetector,
  nosqlDetector,
  ldapDetector,
  crlfDetector,
  jndiDetector,
  xssDetector,
  templateDetector,
  protoDetector,
  shellDetector,
  phpDetector,
];
