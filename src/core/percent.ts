/** Character helpers for percent-encoding (RFC 3986 §2.1, §2.3), shared by the router and DPoP htu. */

export const HEX = '0123456789ABCDEF';

/** The value of one hex digit, -1 if the code is not one. */
export function hexVal(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~": never needs encoding, so an escape of one is decoded. */
export function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}
