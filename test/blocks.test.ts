/** The block-wise scrambler of the design study: a key-derived bijection on pixels, blocks kept whole. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockPlan, blockScramble } from '../src/scrambler/blocks.js';
import { createRng } from '../src/internal/random.js';

const secret = (b: number) => new Uint8Array(32).fill(b);

test('block scrambling permutes whole blocks by the key, and is a bijection on pixel values', () => {
  const design = { size: 32, block: 8 };
  const rng = createRng(3);
  const img = Uint8Array.from({ length: 32 * 32 * 3 }, () => rng.int(256));
  const plan = blockPlan(secret(1), design);
  assert.deepEqual([...plan.perm].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
  const out = blockScramble(img, design, plan);
  assert.deepEqual(blockScramble(img, design, blockPlan(secret(1), design)), out, 'same key, same output');
  assert.notDeepEqual(blockScramble(img, design, blockPlan(secret(2), design)), out, 'another key, another output');
  // Each output block holds the values of its source block (rotated, mirrored, inverted or channel-shuffled): the
  // sorted multiset of values, un-inverted, matches.
  const blockValues = (px: Uint8Array, b: number, invert: boolean) => {
    const vals: number[] = [];
    const by = Math.floor(b / 4) * 8;
    const bx = (b % 4) * 8;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) for (let c = 0; c < 3; c++) vals.push(invert ? 255 - px[((by + y) * 32 + bx + x) * 3 + c]! : px[((by + y) * 32 + bx + x) * 3 + c]!);
    return vals.sort((a, b) => a - b);
  };
  for (let o = 0; o < 16; o++) assert.deepEqual(blockValues(out, o, plan.invert[o]!), blockValues(img, plan.perm[o]!, false), `block ${o}`);
  // Permutation only: blocks are moved unchanged.
  const p2 = blockPlan(secret(1), { ...design, transformBlocks: false });
  assert.ok(p2.invert.every((x) => !x) && p2.rotate.every((r) => r === 0));
  assert.throws(() => blockPlan(secret(1), { size: 32, block: 5 }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /block size must divide/ });
  assert.throws(() => blockScramble(img.subarray(1), design, plan), { code: 'OWSD_ERR_SHAPE' });
});
