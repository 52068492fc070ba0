// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style): comparisons use the
// signed 32-bit distance, valid while the two numbers are less than 2^31 apart — always true
// inside one window. Plain numbers, no BigInt and no wrapper objects on the hot path.

export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
/** Signed distance a - b. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
export const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
export const seqLe = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
export const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;
export const seqGe = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
export const seqMax = (a: number, b: number): number => (seqGt(a, b) ? a : b);
export const seqMin = (a: number, b: number): number => (seqLt(a, b) ? a : b);
/** lo <= x < hi, mod 2^32. */
export const seqInWindow = (x: number, lo: number, hi: number): boolean => seqLe(lo, x) && seqLt(x, hi);
