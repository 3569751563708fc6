/**
 * Screening a selection's images before anything is sent, for `badImages: 'skip'`: each image is decoded once
 * (shrunk on load, so cheap) and those that cannot be read (truncated, empty, not an image, a decompression bomb)
 * are left out and listed with the reason, so nothing is lost silently. The default ('error') stops at the first
 * unreadable image with an error naming it.
 */
import { isOwsdError } from '../errors.js';
import { decodeRgb } from '../image/decode.js';
import { imageName, type Sample } from '../types.js';

export type BadImagePolicy = 'error' | 'skip';

export interface SkippedImage {
  id: string;
  /** The error, naming the file. */
  reason: string;
}

/** The samples whose image decodes, and the ones that do not (in order), `concurrency` decodes at a time. */
export async function screenImages(samples: Sample[], concurrency = 4): Promise<{ ok: Sample[]; skipped: SkippedImage[] }> {
  const bad = new Array<string | undefined>(samples.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      const i = next++;
      try {
        await decodeRgb(samples[i]!.image, { resize: { size: 8, fit: 'fill' } });
      } catch (e) {
        if (!isOwsdError(e)) throw e;
        bad[i] = e.message.startsWith(imageName(samples[i]!.image)) ? e.message : `${imageName(samples[i]!.image)}: ${e.message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, samples.length) }, worker));
  const ok: Sample[] = [];
  const skipped: SkippedImage[] = [];
  samples.forEach((s, i) => (bad[i] === undefined ? ok.push(s) : skipped.push({ id: s.id, reason: bad[i]! })));
  return { ok, skipped };
}
