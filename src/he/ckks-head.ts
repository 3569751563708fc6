/**
 * The homomorphic-encryption peer of OWSD: a linear classifier head evaluated by the cloud on the client's
 * CKKS-encrypted embedding (Microsoft SEAL through node-seal 6, WebAssembly), at 128-bit security.
 *
 *   client: image → encoder → embedding x → encrypt(x) ───────────▶ cloud: scores = W·x + b, homomorphically
 *   client: argmax(decrypt(scores)) ◀──────────────────────────────────────────────── encrypted scores
 *
 * This is the nearest HE alternative to OWSD for the same task: the client runs the same encoder and the cloud
 * never sees the embedding in the clear. It is favourable to HE: the cloud's model is only a linear head on the
 * client's embedding (a whole CNN under HE costs seconds to hours per image, see the README), and the
 * parameters are the smallest SEAL accepts at 128 bits for one plaintext multiplication.
 *
 * The matrix-vector product uses the diagonal ("hybrid") method: with S slots, the embedding zero-padded to S and
 * the C classes padded to G (a power of two), y[k] = Σ_{i<G} d_i[k]·x[(k+i) mod S] with d_i[k] = W[k mod G, (k+i)
 * mod S], then a rotate-and-sum over strides G, 2G, ..., S/2 leaves score r in slot r. That is G-1 + log2(S/G)
 * rotations and G plaintext multiplications per image (22 and 16 for 1280-d embeddings and 10 classes), and the
 * Galois keys cover only those steps. The ciphertext the client sends is seeded (symmetric encryption: half
 * the size) and zstd-compressed, as SEAL allows.
 */
import SEAL from 'node-seal';
import type { SEALLibrary } from 'node-seal/implementation/seal.js';
import { fail } from '../errors.js';

type CipherText = ReturnType<SEALLibrary['CipherText']>;
type Context = ReturnType<SEALLibrary['Context']>;
type CKKSEncoder = ReturnType<SEALLibrary['CKKSEncoder']>;
type Evaluator = ReturnType<SEALLibrary['Evaluator']>;
type GaloisKeys = ReturnType<SEALLibrary['GaloisKeys']>;
type PlainText = ReturnType<SEALLibrary['PlainText']>;
type KeyGenerator = ReturnType<SEALLibrary['KeyGenerator']>;
type Encryptor = ReturnType<SEALLibrary['Encryptor']>;
type Decryptor = ReturnType<SEALLibrary['Decryptor']>;

/** CKKS parameters: ring degree, coefficient-modulus prime sizes (first data prime … special prime), scale bits. */
export interface CkksParams {
  polyModulusDegree: number;
  coeffBits: number[];
  scaleBits: number;
}

/**
 * Parameter sets, both accepted by SEAL at 128-bit security (SEAL refuses a larger total modulus): n = 4096
 * (109 bits at most) is the smallest ring with room for 1280 inputs and one rescale; n = 8192 is the common choice.
 */
export const CKKS_PARAMS = {
  n4096: { polyModulusDegree: 4096, coeffBits: [39, 30, 40], scaleBits: 30 },
  n8192: { polyModulusDegree: 8192, coeffBits: [60, 40, 60], scaleBits: 40 },
} as const satisfies Record<string, CkksParams>;

export type CkksParamName = keyof typeof CKKS_PARAMS;

/** A linear head: scores = x·W + bias, W row-major inputDim x classes (as `RidgeModel.weights`). */
export interface LinearHead {
  inputDim: number;
  classes: number;
  weights: Float32Array;
  bias: Float32Array;
}

let sealPromise: Promise<SEALLibrary> | undefined;
/** The SEAL WebAssembly library, loaded once per process. */
export function loadSeal(): Promise<SEALLibrary> {
  sealPromise ??= (SEAL as unknown as () => Promise<SEALLibrary>)();
  return sealPromise;
}

/** What both sides share: the library, the context (parameters only, no key) and the packing layout. */
export interface CkksSetting {
  seal: SEALLibrary;
  context: Context;
  encoder: CKKSEncoder;
  params: CkksParams;
  slots: number;
  scale: number;
  inputDim: number;
  /** Classes padded to a power of two. */
  group: number;
  classes: number;
  /** Rotation steps the cloud needs Galois keys for. */
  steps: number[];
}

/** Load serialized SEAL bytes into `target`, or fail naming what was expected (SEAL's own errors are opaque). */
function loadInto(target: { loadArray: (c: Context, a: Uint8Array) => void; delete: () => void }, context: Context, bytes: Uint8Array, what: string): void {
  try {
    target.loadArray(context, bytes);
  } catch {
    target.delete();
    fail('OWSD_ERR_REQUEST', `${what}: ${bytes.length} bytes are not a SEAL ${what} for these CKKS parameters`);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

export async function createCkksSetting(inputDim: number, classes: number, which: CkksParamName | CkksParams = 'n4096'): Promise<CkksSetting> {
  const params = typeof which === 'string' ? CKKS_PARAMS[which] : which;
  if (!params) fail('OWSD_ERR_BAD_ARGUMENT', `CKKS parameters: expected one of ${Object.keys(CKKS_PARAMS).join(', ')}, got ${String(which)}`);
  const seal = await loadSeal();
  const slots = params.polyModulusDegree / 2;
  if (!Number.isInteger(inputDim) || inputDim < 1 || inputDim > slots) {
    fail('OWSD_ERR_BAD_ARGUMENT', `CKKS head: the embedding dimension must be 1..${slots} (the slots of n=${params.polyModulusDegree}), got ${inputDim}`);
  }
  const group = nextPow2(classes);
  if (classes < 1 || group > slots) fail('OWSD_ERR_BAD_ARGUMENT', `CKKS head: classes must be 1..${slots}, got ${classes}`);
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(params.polyModulusDegree);
  parms.setCoeffModulus(seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffBits)));
  // tc128: SEAL refuses parameters below 128-bit security (HomomorphicEncryption.org standard).
  const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  if (!context.parametersSet()) {
    fail('OWSD_ERR_BAD_ARGUMENT', `CKKS parameters n=${params.polyModulusDegree}, primes [${params.coeffBits.join(', ')}] bits: ${context.toHuman()}`);
  }
  const steps: number[] = [];
  for (let i = 1; i < group; i++) steps.push(i);
  for (let s = group; s < slots; s *= 2) steps.push(s);
  return { seal, context, encoder: seal.CKKSEncoder(context), params, slots, scale: 2 ** params.scaleBits, inputDim, group, classes, steps };
}

/** The client's side: holds the secret key; encrypts embeddings, decrypts scores. */
export class CkksClient {
  private readonly keygen: KeyGenerator;
  private readonly encryptor: Encryptor;
  private readonly decryptor: Decryptor;

  constructor(readonly setting: CkksSetting) {
    const { seal, context } = setting;
    this.keygen = seal.KeyGenerator(context);
    const sk = this.keygen.secretKey();
    this.encryptor = seal.Encryptor(context, this.keygen.createPublicKey(), sk);
    this.decryptor = seal.Decryptor(context, sk);
  }

  /** The rotation keys the cloud needs (sent once per client key, not per image). */
  galoisKeys(): Uint8Array {
    return this.keygen.createGaloisKeysSerializable(Int32Array.from(this.setting.steps)).saveArray(this.setting.seal.ComprModeType.zstd);
  }

  /** One embedding, encrypted and serialized (what leaves the client per image). */
  encrypt(embedding: Float32Array): Uint8Array {
    const { setting } = this;
    if (embedding.length !== setting.inputDim) fail('OWSD_ERR_SHAPE', `CKKS encrypt: embedding has ${embedding.length} values, expected ${setting.inputDim}`);
    const v = new Float64Array(setting.slots);
    v.set(embedding);
    const pt = setting.encoder.encode(v, setting.scale) as PlainText;
    const s = this.encryptor.encryptSymmetricSerializable(pt);
    const bytes = s.saveArray(setting.seal.ComprModeType.zstd);
    s.delete();
    pt.delete();
    return bytes;
  }

  /** The cloud's encrypted answer → the class scores. */
  decrypt(bytes: Uint8Array): Float32Array {
    const { seal, context, encoder, classes } = this.setting;
    const ct = seal.CipherText();
    loadInto(ct, context, bytes, 'ciphertext');
    const pt = this.decryptor.decrypt(ct) as PlainText;
    const values = encoder.decode(pt);
    pt.delete();
    ct.delete();
    return Float32Array.from(values.subarray(0, classes));
  }

  release(): void {
    this.encryptor.delete();
    this.decryptor.delete();
    this.keygen.delete();
  }
}

/** The cloud's side: holds the head (plaintext diagonals, encoded once) and evaluates it on ciphertexts. */
export class CkksHeadServer {
  private readonly evaluator: Evaluator;
  private readonly diagonals: PlainText[];
  private readonly bias: Float64Array;

  constructor(
    readonly setting: CkksSetting,
    head: LinearHead,
  ) {
    const { seal, context, encoder, slots, group, scale } = setting;
    if (head.inputDim !== setting.inputDim || head.classes !== setting.classes) {
      fail('OWSD_ERR_SHAPE', `CKKS head: ${head.inputDim} x ${head.classes} does not match the setting's ${setting.inputDim} x ${setting.classes}`);
    }
    if (head.weights.length !== head.inputDim * head.classes || head.bias.length !== head.classes) {
      fail('OWSD_ERR_SHAPE', `CKKS head: weights need ${head.inputDim * head.classes} values and bias ${head.classes}`);
    }
    this.evaluator = seal.Evaluator(context);
    const { inputDim, classes } = head;
    this.diagonals = Array.from({ length: group }, (_, i) => {
      const d = new Float64Array(slots);
      for (let k = 0; k < slots; k++) {
        const r = k % group;
        const j = (k + i) % slots;
        if (r < classes && j < inputDim) d[k] = head.weights[j * classes + r]!;
      }
      return encoder.encode(d, scale) as PlainText;
    });
    this.bias = new Float64Array(slots);
    this.bias.set(head.bias);
  }

  /** Load the client's rotation keys (once per client). */
  loadGaloisKeys(bytes: Uint8Array): GaloisKeys {
    const gk = this.setting.seal.GaloisKeys();
    loadInto(gk, this.setting.context, bytes, 'Galois keys');
    return gk;
  }

  /** Encrypted embedding → encrypted scores (serialized), never seeing either in the clear. */
  evaluate(ciphertext: Uint8Array, galoisKeys: GaloisKeys): Uint8Array {
    const { seal, context, encoder, group, slots } = this.setting;
    const ev = this.evaluator;
    const x = seal.CipherText();
    loadInto(x, context, ciphertext, 'ciphertext');
    const acc = ev.multiplyPlain(x, this.diagonals[0]!) as CipherText;
    const tmp = seal.CipherText();
    for (let i = 1; i < group; i++) {
      ev.rotateVector(x, i, galoisKeys, tmp);
      ev.multiplyPlain(tmp, this.diagonals[i]!, tmp);
      ev.add(acc, tmp, acc);
    }
    ev.rescaleToNext(acc, acc);
    for (let s = group; s < slots; s *= 2) {
      ev.rotateVector(acc, s, galoisKeys, tmp);
      ev.add(acc, tmp, acc);
    }
    const b = encoder.encode(this.bias, acc.scale) as PlainText;
    ev.plainModSwitchTo(b, acc.parmsId, b);
    ev.addPlain(acc, b, acc);
    const out = acc.saveArray(seal.ComprModeType.zstd);
    for (const o of [x, acc, tmp, b]) o.delete();
    return out;
  }

  release(): void {
    for (const d of this.diagonals) d.delete();
    this.evaluator.delete();
  }
}

/** The same head in the clear (float64), for checking and for the plaintext side of the comparison. */
export function plainScores(head: LinearHead, embedding: Float32Array): Float64Array {
  const out = new Float64Array(head.classes);
  for (let r = 0; r < head.classes; r++) {
    let s = head.bias[r]!;
    for (let j = 0; j < head.inputDim; j++) s += embedding[j]! * head.weights[j * head.classes + r]!;
    out[r] = s;
  }
  return out;
}
