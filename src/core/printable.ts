/**
 * Text from the network (an API's answer, a token's `sub`) printed to a terminal: control
 * characters are shown escaped, so they cannot drive the reader's terminal (escape sequences).
 * Newlines and tabs stay unless `oneLine`.
 */
export function printable(text: string, oneLine = false): string {
  return Array.from(text, (ch) => {
    const c = ch.codePointAt(0) ?? 0;
    const keep = !oneLine && (ch === '\n' || ch === '\t');
    return (c < 0x20 && !keep) || (c >= 0x7f && c < 0xa0) ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }).join('');
}
