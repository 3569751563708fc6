/**
 * Issue 16 items 2, 3 and the decode half of 4: hostile images (test/crafted-images.ts) through every kind of entry
 * point — decodeRgb (bytes and files), `owsd scramble` as a child process, the embedded cloud on loopback — each
 * refused with its own error naming the image, quickly, or decoded (first page only); SVG refused before any decoder
 * sees it; thin images refused from their header; the decode deadline and AbortSignal; and pixels of ordinary images
 * byte-identical to the decoder before these checks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decodeRgb, sniffImageFormat, loadForModel, resolveModel, SUPPORTED_FORMATS } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { MAX_ASPECT_RATIO, DEFAULT_DECODE_DEADLINE_MS } from '../src/image/decode.js';
import { decodeNetpbm } from '../src/image/netpbm.js';
import { craftedCorpus, CRAFTED_ACCEPTED, cmykTiff, ftypFile, xincludeSvg, blurSvg, type CraftedImage } from './crafted-images.js';
import { dataDir, imagenetteFiles, modelsDir, runOwsd, tempDir } from './helpers.js';

/** Inputs owsd decodes (first page only); every other crafted input is refused. */
const ACCEPTED = CRAFTED_ACCEPTED;

/** The reason each refused input must give (besides its name). */
function expectedReason(name: string): RegExp {
  if (/^(thin|wide|strip)-/.test(name)) return new RegExp(`over the ${MAX_ASPECT_RATIO}:1 aspect-ratio limit`);
  if (name.startsWith('bomb-')) return /megapixel limit/;
  if (name.endsWith('.svg')) return /SVG is not accepted/;
  if (name.endsWith('.heic') || name.endsWith('.heif')) return /HEIC\/HEIF .* is not accepted; convert it to JPEG/;
  if (name === 'video.mp4') return /ISO media file .* is not an image format/;
  if (name === 'empty.png') return /empty image \(0 bytes\)/;
  if (name === 'pdf.pdf') return /PDF is not an image format/;
  if (name === 'bitmap.bmp') return /BMP is not an image format/;
  if (name.startsWith('truncated') || name === 'header-only.png') return /cannot decode image: (VipsJpeg|vipspng|the header is corrupt)/;
  return /not an image format owsd can read \(expected JPEG, PNG, WebP, GIF, TIFF, AVIF or PPM\/PGM\)/;
}

/** Fail (rather than wait) when `p` takes longer than `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

let corpus: CraftedImage[];
let dir: string;
const file = (name: string): string => path.join(dir, name);

before(async () => {
  corpus = await craftedCorpus();
  dir = tempDir('owsd-crafted-');
  for (const c of corpus) fs.writeFileSync(file(c.name), c.bytes);
});

test('the corpus has every kind issue 16 names', () => {
  const names = corpus.map((c) => c.name);
  for (const n of ['thin-1x5000.png', 'wide-5000x1.png', 'thin-1x50000.png', 'thin-1x39000000.png', 'nested-use.svg', 'blur.svg', 'xinclude.svg', 'external-image.svg', 'multipage.tiff', 'animated.gif', 'iphone.heic', 'truncated.jpg', 'truncated.png', 'random.bin', 'empty.png']) {
    assert.ok(names.includes(n), n);
  }
  assert.equal(new Set(names).size, names.length);
  assert.ok(corpus.every((c) => c.why.length > 0));
});

test('the format is sniffed from the first bytes: the documented list, HEIC told from AVIF by its ftyp brand', async () => {
  assert.deepEqual([...SUPPORTED_FORMATS], ['JPEG', 'PNG', 'WebP', 'GIF', 'TIFF', 'AVIF', 'PPM/PGM']);
  const px = sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } });
  for (const [fmt, bytes] of [
    ['jpeg', await px.clone().jpeg().toBuffer()],
    ['png', await px.clone().png().toBuffer()],
    ['webp', await px.clone().webp().toBuffer()],
    ['gif', await px.clone().gif().toBuffer()],
    ['tiff', await px.clone().tiff().toBuffer()],
    ['avif', await px.clone().avif({ effort: 0 }).toBuffer()],
    ['netpbm', Buffer.from('P6\n1 1\n255\n\x01\x02\x03', 'latin1')],
    ['netpbm', Buffer.from('P2\n1 1\n255\n7\n')],
    ['avif', ftypFile('mif1', ['mif1', 'avif', 'miaf'])],
  ] as const) {
    assert.deepEqual(sniffImageFormat(bytes), { format: fmt }, fmt);
  }
  for (const [bytes, reason] of [
    [ftypFile('heic', ['mif1', 'heic']), /HEIC\/HEIF \(ftyp brand 'heic'.*convert it to JPEG/],
    [ftypFile('heix', ['mif1', 'heix']), /HEIC\/HEIF \(ftyp brand 'heix'/],
    [ftypFile('mif1', ['mif1', 'heic', 'avif']), /HEIC\/HEIF/],
    [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), /^SVG is not accepted/],
    [Buffer.from('\ufeff\n <?xml version="1.0"?><svg/>'), /^SVG is not accepted/],
    [Buffer.from('<!DOCTYPE html><html></html>'), /^XML\/HTML text is not accepted/],
    [Buffer.from('%PDF-1.7'), /^PDF/],
  ] as const) {
    const r = sniffImageFormat(bytes);
    assert.equal(r.format, null);
    assert.match((r as { refused: string }).refused, reason);
  }
});

describe('every crafted input through decodeRgb, for a 224-pixel model (resize 256, as MobileNetV2)', () => {
  for (const kind of ['encoded', 'file'] as const) {
    test(`as ${kind === 'file' ? 'a file' : 'bytes'}: its own error naming it within 2 s, or its first page`, async () => {
      for (const c of corpus) {
        const input = kind === 'file' ? { kind, path: file(c.name) } : { kind, bytes: c.bytes, name: c.name };
        const t0 = performance.now();
        const decoding = decodeRgb(input, { resize: { size: 256, fit: 'outside' } });
        if (ACCEPTED.has(c.name)) {
          const img = await within(2000, c.name, decoding);
          assert.equal(Math.min(img.width, img.height), 256, c.name);
          assert.ok(Math.max(img.width, img.height) <= 256 * MAX_ASPECT_RATIO, `${c.name}: ${img.width}x${img.height}`);
        } else {
          await assert.rejects(within(2000, c.name, decoding), (e: Error & { code?: string }) => {
            assert.equal(e.code, 'OWSD_ERR_IMAGE', `${c.name}: ${e.message}`);
            assert.ok(e.message.startsWith(kind === 'file' ? file(c.name) : c.name), e.message);
            assert.match(e.message, expectedReason(c.name));
            assert.ok(!e.message.includes('\n    at '), e.message);
            return true;
          });
        }
        assert.ok(performance.now() - t0 < 2000, `${c.name} took ${Math.round(performance.now() - t0)} ms`);
      }
    });
  }
});

test('thin images are refused from their header: a 1x39,000,000 PNG (under the pixel limit) in milliseconds, with no resize too', async () => {
  for (const name of ['thin-1x5000.png', 'thin-1x50000.png', 'thin-1x39000000.png', 'wide-5000x1.png']) {
    const bytes = corpus.find((c) => c.name === name)!.bytes;
    const t0 = performance.now();
    // No resize: what the gateway's arrival check does.
    await assert.rejects(decodeRgb({ kind: 'encoded', bytes, name }), { code: 'OWSD_ERR_IMAGE', message: new RegExp(`^${name}: cannot decode image: \\d+x\\d+ is \\d+:1, over the 20:1 aspect-ratio limit`) });
    assert.ok(performance.now() - t0 < 1000, `${name}: ${Math.round(performance.now() - t0)} ms`);
  }
  // At the limit the resize output is bounded: 256 x 5,120 for a 20:1 strip.
  const strip = await decodeRgb({ kind: 'encoded', bytes: corpus.find((c) => c.name === 'panorama-440x22.png')!.bytes }, { resize: { size: 256, fit: 'outside' } });
  assert.deepEqual([strip.width, strip.height], [256 * 20, 256]);
});

test('multi-page TIFF and animated GIF: only the first page is read', async () => {
  for (const name of ['multipage.tiff', 'animated.gif']) {
    const bytes = corpus.find((c) => c.name === name)!.bytes;
    assert.ok(((await sharp(bytes).metadata()).pages ?? 1) >= 3, `${name} has several pages`);
    const img = await decodeRgb({ kind: 'encoded', bytes, name });
    assert.deepEqual([img.width, img.height], [64, 64], name);
  }
});

test('SVG is refused before any decoder sees it: an XInclude SVG never opens the file it names, a blur SVG returns at once', async () => {
  const d = tempDir('owsd-svg-');
  // The included "file" is a FIFO: whoever opens it for reading shows up as a reader (and a decoder would block).
  const fifo = path.join(d, 'secret.txt');
  execFileSync('mkfifo', [fifo]);
  fs.writeFileSync(path.join(d, 'x.svg'), xincludeSvg('secret.txt'));
  const decoding = decodeRgb({ kind: 'file', path: path.join(d, 'x.svg') }, { resize: { size: 256, fit: 'outside' } }).then(
    () => 'decoded',
    (e: Error) => e.message,
  );
  let opened = false;
  for (let i = 0; i < 20 && !opened; i++) {
    try {
      const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); // ENXIO while nobody reads
      opened = true;
      fs.writeSync(fd, 'the private text\n');
      fs.closeSync(fd);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.equal(opened, false, 'the XIncluded file was opened');
  assert.match(await within(2000, 'x.svg', decoding), /x\.svg: cannot decode image: SVG is not accepted/);
  fs.writeFileSync(path.join(d, 'blur.svg'), blurSvg());
  const t0 = performance.now();
  await assert.rejects(decodeRgb({ kind: 'file', path: path.join(d, 'blur.svg') }, { resize: { size: 256, fit: 'outside' } }), /blur\.svg: cannot decode image: SVG is not accepted/);
  assert.ok(performance.now() - t0 < 1000, `blur.svg took ${Math.round(performance.now() - t0)} ms to refuse`);
});

test('a PGM decoded by our own netpbm.ts obeys the same limits', async () => {
  const bytes = corpus.find((c) => c.name === 'thin-1x5000.pgm')!.bytes;
  await assert.rejects(decodeRgb({ kind: 'encoded', bytes, name: 'thin.pgm' }, { resize: { size: 256, fit: 'outside' } }), /thin\.pgm: cannot decode image: 1x5000 is 5000:1/);
  const bomb = Buffer.concat([Buffer.from('P5\n7000 7000\n255\n'), Buffer.alloc(49_000_000)]);
  await assert.rejects(decodeRgb({ kind: 'encoded', bytes: bomb, name: 'big.pgm' }), /big\.pgm: cannot decode image: 7000x7000 is larger than the 40 megapixel limit/);
});

describe('decode deadline and cancellation', () => {
  test('DecodeOptions.deadlineMs stops libvips (default DEFAULT_DECODE_DEADLINE_MS)', async (t) => {
    assert.equal(DEFAULT_DECODE_DEADLINE_MS, 10_000);
    // 40 megapixels of CMYK, 2.5 KB: accepted, and seconds of colour conversion.
    const bytes = cmykTiff();
    const opts = { resize: { size: 6000, fit: 'fill' as const, kernel: 'lanczos3' as const } };
    const t0 = performance.now();
    const full = await decodeRgb({ kind: 'encoded', bytes, name: 'cmyk.tiff' }, opts);
    const fullMs = performance.now() - t0;
    assert.equal(full.width, 6000);
    if (fullMs < 1300) return t.skip(`this machine decodes it in ${Math.round(fullMs)} ms, too close to the 1 s deadline to test`);
    const t1 = performance.now();
    await assert.rejects(decodeRgb({ kind: 'encoded', bytes, name: 'cmyk.tiff' }, { ...opts, deadlineMs: 1000 }), {
      code: 'OWSD_ERR_IMAGE_TIMEOUT',
      message: /^cmyk\.tiff: cannot decode image: decoding took longer than its 1 s deadline/,
    });
    assert.ok(performance.now() - t1 < fullMs, `stopped after ${Math.round(performance.now() - t1)} ms; the whole decode takes ${Math.round(fullMs)} ms`);
    await assert.rejects(decodeRgb({ kind: 'encoded', bytes, name: 'x' }, { deadlineMs: 0 }), { code: 'OWSD_ERR_BAD_ARGUMENT' });
  });

  test('an aborted signal: refused before starting (the file is never read), and a running decode answers at once', async () => {
    const gone = AbortSignal.abort(new Error('client went away'));
    await assert.rejects(decodeRgb({ kind: 'file', path: path.join(dir, 'does-not-exist.png') }, { signal: gone }), {
      code: 'OWSD_ERR_CANCELLED',
      message: /does-not-exist\.png: decoding cancelled: client went away/,
    });
    const ac = new AbortController();
    const decoding = decodeRgb({ kind: 'encoded', bytes: cmykTiff(), name: 'cmyk.tiff' }, { resize: { size: 6000, fit: 'fill', kernel: 'lanczos3' }, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(decoding, { code: 'OWSD_ERR_CANCELLED', message: /^cmyk\.tiff: decoding cancelled/ });
    assert.ok(performance.now() - t0 < 500, `answered ${Math.round(performance.now() - t0)} ms after the abort`);
  });
});

test('ordinary images decode to the same bytes as before these checks (JPEG, PNG, PPM; outside and fill)', async () => {
  // The decoder before issue 16, inline: experiment results depend on these pixels.
  const reference = async (p: string, resize?: { size: number; fit: 'outside' | 'fill'; kernel?: 'linear' | 'cubic' }): Promise<Buffer> => {
    const opts = { limitInputPixels: 40_000_000, failOn: 'error' as const };
    let img: Sharp;
    if (p.endsWith('.ppm')) {
      const n = decodeNetpbm(fs.readFileSync(p));
      if (n.channels === 3 && !resize) return Buffer.from(n.data);
      img = sharp(n.data, { ...opts, raw: { width: n.width, height: n.height, channels: n.channels } });
    } else img = sharp(p, opts);
    img = img.rotate().flatten({ background: '#000000' }).toColourspace('srgb');
    if (resize) img = img.resize({ width: resize.size, height: resize.size, fit: resize.fit, kernel: resize.kernel ?? 'linear' });
    return img.removeAlpha().raw({ depth: 'uchar' }).toBuffer();
  };
  const ppmDir = path.join(dataDir, 'gtsrb-test', 'Final_Test', 'Images', '100_kmh');
  const ppms = fs.readdirSync(ppmDir).filter((f) => f.endsWith('.ppm')).sort().slice(0, 2).map((f) => path.join(ppmDir, f));
  const pngFile = path.join(tempDir(), 'converted.png');
  await sharp(imagenetteFiles(3)[2]!).resize(300, 200, { fit: 'fill' }).png().toFile(pngFile);
  const tiny = path.join(dataDir, 'tiny-imagenet-val', 'val', 'images');
  const jpegs = [...imagenetteFiles(2), path.join(tiny, fs.readdirSync(tiny).sort()[0]!)];
  const spec = (await resolveModel('mobilenetv2-12-int8', { modelsDir })).preprocess;
  for (const p of [...jpegs, pngFile, ...ppms]) {
    for (const resize of [undefined, { size: 256, fit: 'outside' as const }, { size: 32, fit: 'fill' as const }, { size: 64, fit: 'fill' as const, kernel: 'cubic' as const }]) {
      const got = await decodeRgb({ kind: 'file', path: p }, { resize });
      assert.deepEqual(Buffer.from(got.data), await reference(p, resize), `${path.basename(p)} ${JSON.stringify(resize)}`);
    }
    const forModel = await loadForModel({ kind: 'file', path: p }, spec);
    assert.deepEqual(Buffer.from(forModel.data), await reference(p, { size: spec.resize, fit: 'outside' }), `${path.basename(p)} loadForModel`);
  }
});

describe('every crafted input through owsd scramble (a child process) and the embedded cloud on loopback', () => {
  let cloud: RunningCloud;
  before(async () => {
    cloud = await startCloudServer({ model: 'mobilenetv2-12-int8', modelsDir, logger: false, port: 0 });
  });
  after(() => cloud?.close());

  test('owsd scramble: its own error naming the file, no stack trace, quickly; accepted inputs scrambled', async () => {
    const env = { ...process.env, OWSD_MODELS: modelsDir };
    const key = path.join(dir, 'k.key');
    assert.equal((await runOwsd(['key', 'new', '--out', key, '--image-size', '64', '--noise', '0'], env)).code, 0);
    const one = async (c: CraftedImage): Promise<void> => {
      const out = path.join(dir, `out-${c.name}`);
      const t0 = performance.now();
      const r = await runOwsd(['scramble', '--key', key, '--encoder', 'mobilenetv2-12-int8', '--out', out, file(c.name)], env);
      const ms = performance.now() - t0;
      if (ACCEPTED.has(c.name)) {
        assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
        assert.equal(fs.readdirSync(out).length, 1, c.name);
      } else {
        assert.notEqual(r.code, 0, c.name);
        assert.match(r.stderr, new RegExp(`^owsd: .*${c.name.replace(/\./g, '\\.')}`), c.name);
        assert.match(r.stderr, expectedReason(c.name), c.name);
        assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
      }
      // Process start and model load included; main spent 5-15 s on thin PNGs and over 60 s on 1x50,000.
      assert.ok(ms < 20_000, `${c.name}: owsd scramble took ${Math.round(ms)} ms`);
    };
    const queue = [...corpus];
    await Promise.all([0, 1].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await one(c);
    }));
  });

  test('the embedded cloud: 400 naming the input for each refused image within 2 s, 200 for the accepted, and it keeps serving', async () => {
    const post = (bytes: Uint8Array) =>
      fetch(`${cloud.url}/v2/models/mobilenetv2-12-int8/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [Buffer.from(bytes).toString('base64')] }] }),
      });
    for (const c of corpus) {
      const t0 = performance.now();
      const r = await within(2000 + (c.bytes.length > 1e5 ? 1000 : 0), c.name, post(c.bytes));
      const body = (await r.json()) as { error?: string };
      if (ACCEPTED.has(c.name)) {
        assert.equal(r.status, 200, `${c.name}: ${body.error}`);
      } else {
        assert.equal(r.status, 400, `${c.name}: ${JSON.stringify(body)}`);
        assert.match(body.error!, /inputs\[0\]\.data\[0\]/, c.name);
        assert.match(body.error!, expectedReason(c.name), c.name);
      }
      assert.ok(performance.now() - t0 < 3000, `${c.name}: ${Math.round(performance.now() - t0)} ms`);
    }
    const normal = fs.readFileSync(imagenetteFiles(1)[0]!);
    assert.equal((await post(normal)).status, 200);
  });
});
