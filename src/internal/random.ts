/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) and helpers built on it.
 *
 * Only 32-bit integer arithmetic (Math.imul, >>>) is used, so a seed gives the same sequence on every machine and
 * Node version. Not for cryptography: keys are made elsewhere with node:crypto.
 */
import { fail } from '../errors.js';

export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n), for an integer 1 <= n <= 2^32. */
  int(n: number): number;
  /** Standard normal (mean 0, variance 1), Box-Muller. */
  normal(): number;
  /** Next raw 32-bit unsigned integer. */
  uint32(): number;
}

const TWO_32 = 4294967296;

/** splitmix32 step: used to spread a seed into the four sfc32 state words. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a of a string, as a 32-bit unsigned integer. For turning names into seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A seed for an independent stream derived from `seed` and a tag, so that separate steps don't share draws. */
export function deriveSeed(seed: number, tag: string): number {
  checkSeed(seed);
  const st = { s: (lowBits(seed) ^ hashString(tag)) | 0 };
  splitmix32(st);
  return (splitmix32(st) ^ highBits(seed)) >>> 0;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) fail('OWSD_ERR_BAD_ARGUMENT', `seed must be an integer, got ${seed}`);
}
function lowBits(seed: number): number {
  return seed >>> 0;
}
function highBits(seed: number): number {
  return Math.floor(seed / TWO_32) >>> 0;
}

/** A generator for an integer seed (any safe integer; negative and > 2^32 seeds are distinct streams). */
export function createRng(seed: number): Rng {
  checkSeed(seed);
  const st = { s: lowBits(seed) ^ Math.imul(highBits(seed), 0x632be5ab) };
  let a = splitmix32(st);
  let b = splitmix32(st);
  let c = splitmix32(st);
  let d = splitmix32(st);
  let spare: number | null = null;

  const uint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Warm up: the first outputs of sfc32 are correlated with the seed.
  for (let i = 0; i < 12; i++) uint32();

  const next = (): number => uint32() / TWO_32;

  return {
    next,
    uint32,
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
        fail('OWSD_ERR_BAD_ARGUMENT', `rng.int(n) needs an integer 1 <= n <= 2^32, got ${n}`);
      }
      // Rejection sampling: no modulo bias.
      const limit = TWO_32 - (TWO_32 % n);
      let x = uint32();
      while (x >= limit) x = uint32();
      return x % n;
    },
    normal(): number {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = next();
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/** Fisher-Yates shuffle, in place; returns the same array. */
export function shuffle<T>(array: T[], rng: Rng): T[] {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = array[i];
    array[i] = array[j];
    array[j] = tmp;
  }
  return array;
}
