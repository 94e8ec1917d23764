import type { Detector, Finding } from '../types.js';

/**
 * LDAP filter injection: a value that closes the application's filter and opens its own,
 * "*)(uid=*))(|(uid=*", "admin)(&)", "x)(|(objectClass=*)". Found by reading the filter syntax
 * around ")(": what opens after it is an operator (| & !) or an "attribute=" assertion.
 */

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `ldap-${rule}`, family: 'ldap', pl, score };
}

const FILTER_BREAKOUT = finding('filter-injection', 1, 5);

/** Attributes of common directory schemas (the targets of login and lookup filters). */
const ATTRIBUTES = new Set([
  'uid',
  'cn',
  'sn',
  'ou',
  'dc',
  'o',
  'mail',
  'objectclass',
  'userpassword',
  'samaccountname',
  'userprincipalname',
  'memberof',
  'member',
  'givenname',
  'displayname',
  'description',
  'telephonenumber',
  'homedirectory',
  'distinguishedname',
  'gidnumber',
  'uidnumber',
  'loginshell',
  'name',
  'objectcategory',
  'useraccountcontrol',
  'admincount',
  'pwdlastset',
]);

function isAttrChar(c: number): boolean {
  // Letters, digits, "-", ";" options and the ":" "." of extensible matches (attr:1.2.840…:=).
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 59 ||
    c === 58 ||
    c === 46
  );
}

/** What follows "(" at i: 2 = operator or known attribute assertion, 1 = some assertion, 0 = not a filter. */
function filterOpens(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 124 || c === 38 || c === 33) {
    // "(|(" "(&(" "(!(" or the absolute true/false filters "(&)" "(|)".
    let k = i + 1;
    while (isBlank(s.charCodeAt(k))) k++;
    const n = s.charCodeAt(k);
    return n === 40 || n === 41 || k >= s.length ? 2 : 0;
  }
  let j = i;
  while (j < s.length && j - i < 40 && isAttrChar(s.charCodeAt(j))) j++;
  if (j === i) return 0;
  let end = j;
  if (s.charCodeAt(end - 1) === 58) end--;
  const op = s.charCodeAt(j);
  const assertion = op === 61 || ((op === 126 || op === 62 || op === 60) && s.charCodeAt(j + 1) === 61);
  if (!assertion) return 0;
  return ATTRIBUTES.has(s.slice(i, end).toLowerCase()) ? 2 : 1;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * The value closes a parenthesis it never opened (it breaks out of the application's filter) and
 * then opens a clause: "x)(uid=*", "*)(|(cn=*", "x)!(sn=*", "bar)(&)". A complete, balanced filter
 * ("(&(objectCategory=computer)(cn=x))", an LDAP search tool's input) is data.
 */
function inspectLdap(s: string, out: Finding[]): void {
  let depth = 0;
  let broke = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) {
      depth--;
      if (depth < 0) broke = true;
      if (!broke) continue;
      let j = i + 1;
      while (isBlank(s.charCodeAt(j))) j++;
      const joiner = s.charCodeAt(j);
      if (joiner === 124 || joiner === 38 || joiner === 33) {
        j++;
        while (isBlank(s.charCodeAt(j))) j++;
      }
      if (s.charCodeAt(j) !== 40) continue;
      j++;
      while (isBlank(s.charCodeAt(j))) j++;
      const level = j >= s.length ? 2 : filterOpens(s, j);
      if (level > 0) {
        out.push(FILTER_BREAKOUT);
        return;
      }
    }
  }
}

export const ldapDetector: Detector = {
  family: 'ldap',
  detect(value: string, _input, out: Finding[]): void {
    if (value.length < 3 || value.indexOf('(') === -1) return;
    inspectLdap(value, out);
  },
};
