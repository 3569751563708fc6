/**
 * How deeply a JSON text nests arrays and objects, found by one scan that skips strings, stopping as soon as it
 * passes `max`. Parsing and walking a hostile document nested 100,000 deep overflows the stack (a RangeError,
 * not a clear error), so servers and clients check this before JSON.parse.
 */
export const MAX_JSON_DEPTH = 64;

/** True when `text` nests deeper than `max` (brackets inside strings do not count). */
export function nestsDeeperThan(text: string | Uint8Array, max = MAX_JSON_DEPTH): boolean {
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i]!;
  const n = text.length;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < n; i++) {
    const c = at(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
