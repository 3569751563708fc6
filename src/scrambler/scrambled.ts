/**
 * `ScrambledImage`: the only thing an owsd cloud client sends. A branded type that only `markScrambled` creates,
 * backed by a runtime registry, so that "every request carries only scrambled images" is a property the code
 * checks twice: at compile time (the type; a plain Uint8Array or an ImageInput does not fit) and at send time
 * (`assertScrambled`: objects not made by `markScrambled` — a forced cast, a copy, a JSON round trip — and bytes
 * that are no longer a PNG are refused with OWSD_ERR_LEAK before any byte leaves the process).
 *
 * `markScrambled` is called by the scrambler right after it produced the PNG. It checks the bytes are a PNG
 * (signature and IHDR); it cannot know they are scrambled, so the discipline is: call it only on scrambler output.
 */
import { fail } from '../errors.js';

declare const scrambledBrand: unique symbol;

/** A PNG that came out of the scrambler. Create with `markScrambled`; never by hand. */
export interface ScrambledImage {
  readonly png: Uint8Array;
  readonly [scrambledBrand]: true;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Every ScrambledImage ever made by markScrambled in this process. */
const registry = new WeakSet<object>();

/** PNG signature followed by an IHDR chunk of 13 bytes. */
export function isPng(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length < 33) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return false;
  const len = (bytes[8]! << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!;
  return len === 13 && bytes[12] === 0x49 && bytes[13] === 0x48 && bytes[14] === 0x44 && bytes[15] === 0x52;
}

function sniff(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'a JPEG';
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x46) return 'a RIFF/WebP file';
  if (bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) return 'a GIF';
  return `${bytes.length} bytes that are not a PNG`;
}

/** Mark scrambler output as sendable. Throws OWSD_ERR_LEAK when the bytes are not a PNG. */
export function markScrambled(png: Uint8Array): ScrambledImage {
  if (!(png instanceof Uint8Array)) return fail('OWSD_ERR_LEAK', `markScrambled: expected the scrambler's PNG bytes (a Uint8Array), got ${typeof png}`);
  if (!isPng(png)) return fail('OWSD_ERR_LEAK', `markScrambled: refusing ${sniff(png)}: only the scrambler's PNG output may be marked as scrambled`);
  const image = Object.freeze({ png }) as ScrambledImage;
  registry.add(image);
  return image;
}

/** Whether `x` was made by markScrambled (and still holds PNG bytes). */
export function isScrambled(x: unknown): x is ScrambledImage {
  return typeof x === 'object' && x !== null && registry.has(x) && isPng((x as ScrambledImage).png);
}

/**
 * The send-time check every client runs on every image of every request: throws OWSD_ERR_LEAK naming the index
 * and what the thing looks like when anything is not a ScrambledImage made by markScrambled.
 */
export function assertScrambled(images: readonly unknown[], where = 'cloud client'): asserts images is ScrambledImage[] {
  if (!Array.isArray(images)) fail('OWSD_ERR_LEAK', `${where}: expected an array of ScrambledImage, got ${typeof images}`);
  images.forEach((x, i) => {
    if (isScrambled(x)) return;
    let what: string;
    if (x instanceof Uint8Array) what = `raw bytes (${sniff(x)})`;
    else if (typeof x === 'object' && x !== null && 'png' in x) {
      const png = (x as { png: unknown }).png;
      what = png instanceof Uint8Array && !isPng(png) ? `an object holding ${sniff(png)}` : 'an object not made by markScrambled';
    } else if (typeof x === 'object' && x !== null && 'kind' in x) what = `an image input of kind '${String((x as { kind: unknown }).kind)}'`;
    else what = typeof x;
    fail('OWSD_ERR_LEAK', `${where}: refusing to send image ${i}: it is ${what}, not a ScrambledImage from markScrambled; only scrambled images may leave the organization`);
  });
}
