import type { Detector, Finding } from '../types.js';

/**
 * JNDI / Log4Shell lookups: "${jndi:ldap://…}" and the obfuscated forms that Log4j resolves before
 * the jndi: prefix appears ("${${lower:j}ndi:", "${${::-j}${::-n}di:", "${${env:X:-j}ndi:"). The
 * scanner evaluates the lookup syntax the way Log4j would (lower/upper, ":-" defaults) with a
 * bounded stack, then looks at what each lookup resolves to.
 */

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `jndi-${rule}`, family: 'jndi', pl, score };
}

const JNDI = finding('lookup', 1, 5);
const OBFUSCATED = finding('obfuscated-lookup', 1, 5);
const LEAK = finding('log4j-lookup', 2, 3);

/** Log4j lookups that leak data into an exfiltrating DNS name ("${env:AWS_SECRET_ACCESS_KEY}"). */
const LEAKING = [
  'env:',
  'sys:',
  'java:',
  'ctx:',
  'main:',
  'base64:',
  'bundle:',
  'k8s:',
  'docker:',
  'spring:',
  'web:',
  'log4j:',
  'sd:',
  'map:',
  'marker:',
  'event:',
];

const MAX_DEPTH = 32;

interface Result {
  jndi: boolean;
  /** A lookup whose text only becomes meaningful after nested lookups were resolved. */
  obfuscated: boolean;
  leak: boolean;
}

/** What one "${...}" resolves to, given its (already resolved) body. */
function resolve(body: string, nested: boolean, r: Result): string {
  // The shortest meaningful body is a default (":-j"); "${a}" resolves to nothing we care about.
  if (body.length < 3) return '';
  const lower = body.length > 64 ? body.slice(0, 64).toLowerCase() : body.toLowerCase();
  if (lower.replace(/\s+/g, '').startsWith('jndi:')) {
    r.jndi = true;
    if (nested) r.obfuscated = true;
    return '';
  }
  if (lower.startsWith('lower:') || lower.startsWith('upper:')) {
    r.obfuscated = true;
    return body.slice(6);
  }
  const dflt = body.indexOf(':-');
  if (dflt !== -1) {
    r.obfuscated = true;
    return body.slice(dflt + 2);
  }
  for (const p of LEAKING) if (lower.startsWith(p)) r.leak = true;
  return '';
}

/** Resolves the lookups of s, innermost first. Linear: each character is appended at most MAX_DEPTH times. */
export function scanLookups(s: string): Result {
  const r: Result = { jndi: false, obfuscated: false, leak: false };
  const stack: string[] = [];
  const hadNested: boolean[] = [];
  let text = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 36 && s.charCodeAt(i + 1) === 123 && stack.length < MAX_DEPTH) {
      stack.push(text);
      hadNested.push(false);
      text = '';
      i++;
      continue;
    }
    if (c === 125 && stack.length > 0) {
      const nested = hadNested.pop() as boolean;
      const value = resolve(text, nested, r);
      text = (stack.pop() as string) + value;
      if (hadNested.length > 0) hadNested[hadNested.length - 1] = true;
      continue;
    }
    if (stack.length > 0) text += s[i];
  }
  // Unclosed lookups still count when what is open already says jndi ("${jndi:ldap://x" cut short).
  if (!r.jndi)
    for (const t of [...stack.slice(1), text])
      if (t.toLowerCase().replace(/\s+/g, '').startsWith('jndi:')) r.jndi = true;
  return r;
}

export const jndiDetector: Detector = {
  family: 'jndi',
  detect(value: string, _input, out: Finding[]): void {
    if (value.length < 4 || value.indexOf('${') === -1) return;
    const r = scanLookups(value);
    if (r.jndi) out.push(r.obfuscated ? OBFUSCATED : JNDI);
    else if (r.obfuscated && r.leak) out.push(OBFUSCATED);
    else if (r.leak) out.push(LEAK);
  },
};
