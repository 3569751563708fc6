/**
 * The key file: a 256-bit secret from the OS CSPRNG plus the generator's design, image size and submission
 * budget, as JSON with mode 0600. Only this file ever holds the secret. The key id is derived from the secret
 * by HMAC, so it names the key without revealing it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fail, type ErrorCode } from '../errors.js';
import { checkPrivateFolder, fsyncFolder } from './files.js';

export const KEY_FORMAT = 'owsd-key/1';
/**
 * Submissions a new key allows before it must be replaced. The paper says 9,000; our measured known-plaintext
 * attacks say less: `deriveBudget` (src/analysis/budget.ts) applied to `owsd analyze`'s inversion curves
 * (reports/security/results) gives this figure, and test/budget.test.ts keeps the two equal. See SECURITY.md.
 */
export const DEFAULT_BUDGET = 1000;
/**
 * The largest budget a key may have: 10^9 submissions. Counts stay exact integers far below 2^53 (a ledger adds
 * reservations to them, Redis's Lua numbers are doubles), and it is a million times what our measured attacks allow
 * (DEFAULT_BUDGET; the paper says 9,000): a larger budget is a mistake, not a choice.
 */
export const MAX_BUDGET = 1_000_000_000;
/**
 * The generator of `owsd key new`'s keys: the cheapest design of equal accuracy that real cloud vision APIs accept,
 * by the rule of src/scrambler/choice.ts applied to the design study (reports/paper/results/design.json); see
 * docs/generator-choice.md, checked by test/generator-choice.test.ts. 96 px (above every API's minimum side, 80 px)
 * with 256 base channels: 0.042 GFLOP/image against the paper's 1.40 at the same accuracy, and a PNG of about
 * 30 KB against 208 KB at 256 px. The any-inverter bound is measured on the generator's input, so it does not
 * depend on this choice. Earlier defaults were the paper's 256 px with 1024 channels, then 256 px with 256 channels:
 * key files record their size and width, so those keys keep them.
 */
export const DEFAULT_IMAGE_SIZE = 96;
export const DEFAULT_BASE_CHANNELS = 256;
/** The paper's generator width (1024 base channels for 256 px): the experiments' reference design. */
export const PAPER_BASE_CHANNELS = 1024;
/** The paper's scrambled image side (the default until the 96 px generator was measured as accurate and cheaper). */
export const PAPER_IMAGE_SIZE = 256;
/**
 * The generator graph's version. 'dcgan-he-v1': every upsampling a ConvTranspose node. 'dcgan-he-v2': the same
 * network with its channel-heavy first layers written as sub-pixel convolutions (src/scrambler/generator.ts); as a
 * function it equals v1's up to float rounding, but a few pixels in 10^4 round to the neighbouring 8-bit value, so
 * it has its own name: a key file says which one it means, and v1 keys keep producing exactly their old images.
 * The default stays v1: on the shared 2-core machine one bench run had v2 18-43% faster and the next had it up to
 * 28% slower (docs/generator-choice.md); `node dist/bench/stages.js generator` times both forms side by side.
 * 'dcgan-he-v3': v2's layers and a fused tail (LayerNormalization, Sigmoid, QuantizeLinear; the 'fused' form), the
 * same function again up to float rounding, with its own name for the same reason.
 */
export const GENERATOR_DESIGNS = ['dcgan-he-v1', 'dcgan-he-v2', 'dcgan-he-v3'] as const;
export type GeneratorDesignName = (typeof GENERATOR_DESIGNS)[number];
export const DEFAULT_DESIGN: GeneratorDesignName = 'dcgan-he-v1';
/** The design the committed studies ran (src/experiments keep it, so their results stay reproducible). */
export const PAPER_DESIGN: GeneratorDesignName = 'dcgan-he-v1';
/**
 * The per-submission noise of `owsd key new`'s keys: the any-inverter bound study's choice by the stated rule of
 * src/experiments/noise-choice.ts: the smallest noise of the grid whose k = 20 figure is under twice chance on every
 * shared data set with every encoder (reports/security/bound/results.json, with the many-class rows from the
 * larger-sample run in reports/security/bound-large; table in docs/leak-bound.md); test/design-choice.test.ts checks
 * it. It was 4 (the design study's choice), then 8 (a chance-corrected rule): key files store their noise, so keys
 * made then keep theirs.
 */
export const DEFAULT_EMBEDDING_NOISE = 12;
/** The largest per-submission noise a key may ask for (a multiple of the embedding's RMS). */
export const MAX_EMBEDDING_NOISE = 100;
/**
 * The generator's output sides: a start of 3 to 7 px doubled (src/scrambler/generator.ts, startSide). 96 px starts
 * at 3 and is the cheapest at or above 80 px, the largest documented minimum of cloud vision APIs.
 */
export const IMAGE_SIZES = [32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512] as const;

export interface GeneratorDesign {
  /** Output image side in pixels (one of IMAGE_SIZES). */
  imageSize: number;
  /** Channels of the first 4x4 feature map; halved at each upsampling (paper: 1024). */
  baseChannels: number;
  /** Name of the architecture, so old keys keep their meaning if the default changes (GENERATOR_DESIGNS). */
  design: GeneratorDesignName;
  /**
   * Fresh Gaussian noise added to the embedding before every submission, with standard deviation this multiple of
   * the embedding's RMS, drawn from the OS CSPRNG (so the cloud cannot predict it). 0 or absent: deterministic
   * scrambling, the paper's design (and what key files written before this field existed mean). The IIN always
   * gets the clean embedding. See the design study (reports/paper, experiment `design`) for why.
   */
  embeddingNoise?: number;
}

export interface KeyInfo {
  format: typeof KEY_FORMAT;
  id: string;
  created: string;
  generator: GeneratorDesign;
  budget: number;
}

/** A loaded key. `secret` is deliberately not enumerable, so JSON.stringify/console.log of a Key omit it. */
export interface Key extends KeyInfo {
  readonly secret: Uint8Array;
  /** The file it was read from. */
  readonly file?: string;
}

export function keyIdOf(secret: Uint8Array): string {
  return 'k_' + crypto.createHmac('sha256', secret).update('owsd key id').digest('hex').slice(0, 16);
}

function withSecret(info: KeyInfo, secret: Uint8Array, file?: string): Key {
  const key = { ...info } as Key;
  Object.defineProperty(key, 'secret', { value: secret, enumerable: false });
  Object.defineProperty(key, 'file', { value: file, enumerable: false });
  return key;
}

export interface NewKeyOptions {
  imageSize?: number;
  budget?: number;
  baseChannels?: number;
  /** Per-submission embedding noise, as a multiple of the embedding's RMS (default DEFAULT_EMBEDDING_NOISE; 0: none). */
  embeddingNoise?: number;
  /** For tests and reproducible experiments only: a fixed secret instead of the CSPRNG. */
  secret?: Uint8Array;
  /** The generator graph's version (default DEFAULT_DESIGN). */
  design?: GeneratorDesignName;
}

export function validateImageSize(size: number, where = 'image size'): number {
  if (!(IMAGE_SIZES as readonly number[]).includes(size)) {
    return fail('OWSD_ERR_BAD_ARGUMENT', `${where} must be one of ${IMAGE_SIZES.join(', ')} (pixels per side), got ${size}`);
  }
  return size;
}

function isNoise(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= MAX_EMBEDDING_NOISE;
}

export function validateNoise(x: number, where: string): number {
  if (!isNoise(x)) return fail('OWSD_ERR_BAD_ARGUMENT', `${where} must be a number from 0 to ${MAX_EMBEDDING_NOISE} (a multiple of the embedding's RMS), got ${x}`);
  return x;
}

/** A budget must be an integer from 1 to MAX_BUDGET; `where` names the flag or field in the error. */
export function validateBudget(budget: unknown, where = 'budget', code: ErrorCode = 'OWSD_ERR_BAD_ARGUMENT'): number {
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1 || budget > MAX_BUDGET) {
    return fail(code, `${where}: expected an integer from 1 to ${MAX_BUDGET} (submissions a key may make), got ${typeof budget === 'number' || typeof budget === 'string' ? String(budget).slice(0, 40) : typeof budget}`);
  }
  return budget;
}

export function createKey(opts: NewKeyOptions = {}): Key {
  const secret = opts.secret ?? crypto.randomBytes(32);
  if (secret.length !== 32) return fail('OWSD_ERR_BAD_ARGUMENT', `secret must be 32 bytes, got ${secret.length}`);
  const budget = validateBudget(opts.budget ?? DEFAULT_BUDGET);
  const baseChannels = opts.baseChannels ?? DEFAULT_BASE_CHANNELS;
  if (!Number.isInteger(baseChannels) || baseChannels < 8) return fail('OWSD_ERR_BAD_ARGUMENT', `base channels must be an integer >= 8, got ${baseChannels}`);
  const embeddingNoise = validateNoise(opts.embeddingNoise ?? DEFAULT_EMBEDDING_NOISE, 'embedding noise');
  const design = opts.design ?? DEFAULT_DESIGN;
  if (!(GENERATOR_DESIGNS as readonly string[]).includes(design)) return fail('OWSD_ERR_BAD_ARGUMENT', `generator design must be one of ${GENERATOR_DESIGNS.join(', ')}, got ${String(design).slice(0, 40)}`);
  const info: KeyInfo = {
    format: KEY_FORMAT,
    id: keyIdOf(secret),
    created: new Date().toISOString(),
    generator: { imageSize: validateImageSize(opts.imageSize ?? DEFAULT_IMAGE_SIZE), baseChannels, design, embeddingNoise },
    budget,
  };
  return withSecret(info, secret);
}

/** Write a key file with mode 0600; refuses to overwrite an existing file. */
export function writeKeyFile(file: string, key: Key): void {
  const body = JSON.stringify({ ...key, secret: Buffer.from(key.secret).toString('base64') }, null, 2) + '\n';
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkPrivateFolder(dir, `key folder of ${file}:`);
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail('OWSD_ERR_FILE', `cannot create key file ${file}: ${code === 'EEXIST' ? 'it already exists (keys are never overwritten)' : (e as Error).message}`);
  }
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, body);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncFolder(dir);
}

/** Read and check a key file: permissions, format and secret. Errors never quote the file's content. */
export function readKeyFile(file: string): Key {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return fail('OWSD_ERR_KEY', `key file ${file} does not exist`);
  }
  if (!stat.isFile()) return fail('OWSD_ERR_KEY', `key file ${file} is not a file (a folder?): give the key file owsd key new wrote`);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    return fail('OWSD_ERR_KEY_PERMISSIONS', `key file ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}): run chmod 600 ${file}`);
  }
  // Others must not be able to plant files (a symlink where a ledger or temp file will be written) beside it.
  checkPrivateFolder(path.dirname(path.resolve(file)), `key folder of ${file}:`);
  const real = fs.realpathSync(file);
  if (path.dirname(real) !== path.dirname(path.resolve(file))) checkPrivateFolder(path.dirname(real), `key folder of ${file} (where it links to):`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return fail('OWSD_ERR_KEY', `key file ${file} is corrupt: not valid JSON`);
  }
  if (json.format !== KEY_FORMAT) return fail('OWSD_ERR_KEY', `key file ${file}: expected format "${KEY_FORMAT}"`);
  const secret = typeof json.secret === 'string' ? Buffer.from(json.secret, 'base64') : Buffer.alloc(0);
  if (secret.length !== 32) return fail('OWSD_ERR_KEY', `key file ${file} is corrupt: the secret must be 32 bytes of base64`);
  const id = keyIdOf(secret);
  if (json.id !== id) return fail('OWSD_ERR_KEY', `key file ${file} is corrupt: its id does not match its secret`);
  const g = json.generator as Partial<GeneratorDesign> | undefined;
  if (!g || typeof g.imageSize !== 'number' || typeof g.baseChannels !== 'number' || typeof g.design !== 'string') {
    return fail('OWSD_ERR_KEY', `key file ${file} is corrupt: "generator" must give imageSize, baseChannels and design`);
  }
  if (!(GENERATOR_DESIGNS as readonly string[]).includes(g.design)) {
    return fail('OWSD_ERR_KEY', `key file ${file}: generator.design must be one of ${GENERATOR_DESIGNS.join(', ')} (a newer owsd's key?), got ${JSON.stringify(g.design.slice(0, 40))}`);
  }
  if (!(IMAGE_SIZES as readonly number[]).includes(g.imageSize)) {
    return fail('OWSD_ERR_KEY', `key file ${file} is corrupt: generator.imageSize must be one of ${IMAGE_SIZES.join(', ')}, got ${g.imageSize}`);
  }
  if (g.embeddingNoise !== undefined && !isNoise(g.embeddingNoise)) {
    return fail('OWSD_ERR_KEY', `key file ${file}: "generator.embeddingNoise" must be a number from 0 to ${MAX_EMBEDDING_NOISE}`);
  }
  if (typeof json.budget !== 'number' || !Number.isInteger(json.budget) || json.budget < 1) return fail('OWSD_ERR_KEY', `key file ${file}: "budget" must be a positive integer`);
  const budget = validateBudget(json.budget, `key file ${file}: "budget"`, 'OWSD_ERR_KEY');
  const info: KeyInfo = { format: KEY_FORMAT, id, created: String(json.created ?? ''), generator: g as GeneratorDesign, budget };
  return withSecret(info, new Uint8Array(secret), path.resolve(file));
}

/** Everything about a key except its secret. */
export function keyInfo(key: Key): KeyInfo {
  return { format: key.format, id: key.id, created: key.created, generator: { ...key.generator }, budget: key.budget };
}
