/**
 * Block-wise scrambling of the image itself, as in "learnable image encryption" (Tanaka 2018; Chuman et al.
 * 2019): the image (S x S RGB) is cut into B x B blocks; a permutation of the blocks and, per block position, a
 * rotation, a mirror, a negative-positive flip and a channel order are all derived from the key. Unlike the DCGAN
 * scrambler it keeps the local image structure that a CNN responds to, so an unmodified cloud can still
 * recognise something. It is also much weaker: the cloud receives pieces of the image. It exists for the design
 * study (experiment `design`), to show that end of the trade-off; owsd never uses it for real traffic.
 */
import { fail } from '../errors.js';
import { keystreamWords } from '../key/keystream.js';

export interface BlockScrambleDesign {
  /** Image side in pixels (a multiple of `block`). */
  size: number;
  /** Block side in pixels. */
  block: number;
  /** Per-block rotation, mirror, negative-positive flip and channel order (default true); false: only permute blocks. */
  transformBlocks?: boolean;
}

interface BlockPlan {
  /** Output block i takes input block perm[i]. */
  perm: number[];
  rotate: number[];
  mirror: boolean[];
  invert: boolean[];
  channels: Array<[number, number, number]>;
}

const ORDERS: Array<[number, number, number]> = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/** The key's plan for a design: a Fisher-Yates permutation and the per-block transforms, from the key stream. */
export function blockPlan(secret: Uint8Array, d: BlockScrambleDesign): BlockPlan {
  if (!(Number.isInteger(d.block) && d.block >= 1 && d.size % d.block === 0)) fail('OWSD_ERR_BAD_ARGUMENT', `block size must divide the image size ${d.size}, got ${d.block}`);
  const count = (d.size / d.block) ** 2;
  const words: number[] = [];
  for (const chunk of keystreamWords(secret, `blocks/size${d.size}/block${d.block}`)) {
    for (let i = 0; i < chunk.length && words.length < 5 * count; i++) words.push(chunk[i]!);
    if (words.length >= 5 * count) break;
  }
  let w = 0;
  const next = (m: number): number => words[w++]! % m;
  const perm = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = next(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const t = d.transformBlocks ?? true;
  return {
    perm,
    rotate: perm.map(() => (t ? next(4) : 0)),
    mirror: perm.map(() => (t ? next(2) === 1 : false)),
    invert: perm.map(() => (t ? next(2) === 1 : false)),
    channels: perm.map(() => (t ? ORDERS[next(6)]! : ORDERS[0]!)),
  };
}

/** Scramble one S x S x 3 image (interleaved RGB) by the plan. */
export function blockScramble(pixels: Uint8Array, d: BlockScrambleDesign, plan: BlockPlan): Uint8Array {
  const { size: S, block: B } = d;
  if (pixels.length !== S * S * 3) fail('OWSD_ERR_SHAPE', `block scrambling expects a ${S}x${S} RGB image (${S * S * 3} bytes), got ${pixels.length}`);
  const per = S / B;
  const out = new Uint8Array(pixels.length);
  for (let o = 0; o < plan.perm.length; o++) {
    const src = plan.perm[o]!;
    const sy = Math.floor(src / per) * B;
    const sx = (src % per) * B;
    const oy = Math.floor(o / per) * B;
    const ox = (o % per) * B;
    const rot = plan.rotate[o]!;
    const ch = plan.channels[o]!;
    const inv = plan.invert[o]!;
    const mir = plan.mirror[o]!;
    for (let y = 0; y < B; y++) {
      for (let x = 0; x < B; x++) {
        // Output (x, y) inside the block reads the source at the rotated, mirrored position.
        let u = mir ? B - 1 - x : x;
        let v = y;
        for (let r = 0; r < rot; r++) [u, v] = [v, B - 1 - u];
        const si = ((sy + v) * S + sx + u) * 3;
        const oi = ((oy + y) * S + ox + x) * 3;
        for (let c = 0; c < 3; c++) {
          const val = pixels[si + ch[c]!]!;
          out[oi + c] = inv ? 255 - val : val;
        }
      }
    }
  }
  return out;
}
