/**
 * Prose or a document (several lines, or at least four words): a path or URL inside it is a
 * mention, not a payload. Shared by the detectors that weigh a value by its shape.
 */
export function documentLike(s: string): boolean {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) return true;
    const space = c === 32 || c === 9 || c === 13;
    if (!space && !inWord && ++words >= 4) return true;
    inWord = !space;
  }
  return false;
}
