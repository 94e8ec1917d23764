/**
 * A pattern that will run on client data with JavaScript's backtracking engine (a policy's
 * `matches`, a virtual patch) must be a literal, checked once at start-up, without the shapes of
 * catastrophic backtracking: no back-references, no quantified groups, at most one unbounded
 * quantifier. Returns why a pattern is refused, or undefined.
 */
export function unsafePattern(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch {
    return 'is not a valid regular expression';
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'uses a back-reference';
  // Only shapes that cannot blow up pass: no quantifier on a group at all, and at most one
  // unbounded quantifier in the whole pattern.
  let unbounded = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    const next = pattern[i + 1];
    if (c === ')' && (next === '*' || next === '+' || next === '?' || next === '{'))
      return 'puts a quantifier on a group (catastrophic backtracking); quantify single characters or classes only';
    if (c === '*' || c === '+') unbounded++;
    else if (c === '{' && /^\{\d+,\}/.test(pattern.slice(i))) unbounded++;
  }
  if (unbounded > 1)
    return 'has more than one unbounded quantifier (polynomial backtracking); use startsWith/endsWith/contains or split the rule';
  return undefined;
}
