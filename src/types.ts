/** Plain, serializable data that flows between the stages. */
import type { ErrorCode } from './errors.js';

/**
 * An image before decoding. Files are read lazily, so a dataset of paths costs no memory;
 * `raw` holds already-decoded interleaved RGB (CIFAR binary records); `encoded` holds PNG/JPEG/... bytes.
 */
export type ImageInput =
  | { kind: 'file'; path: string }
  | { kind: 'encoded'; bytes: Uint8Array; name?: string }
  | { kind: 'raw'; data: Uint8Array; width: number; height: number; channels: 1 | 3 | 4; name?: string };

/** A name for an image input, for error messages and logs. Never includes pixel data. */
export function imageName(img: ImageInput): string {
  if (img.kind === 'file') return img.path;
  return img.name ?? `<${img.kind} image>`;
}

/** One labelled example of a dataset. `label` indexes `Dataset.classes`. */
export interface Sample {
  /** Stable identifier inside its dataset (relative path, or `test.bin#123`). Used for resumability. */
  id: string;
  label: number;
  image: ImageInput;
}

export interface Dataset {
  /** Detected format. */
  format: 'folders' | 'cifar10' | 'cifar100' | 'tiny-imagenet' | 'gtsrb';
  root: string;
  /** Label ids in label-index order (wnids for ImageNet-like sets, folder or class names otherwise). */
  classes: string[];
  /** Human-readable names, parallel to `classes`. */
  classNames: string[];
  samples: Sample[];
}

/** A top-k entry of a prediction. */
export interface LabelScore {
  label: string;
  name: string;
  index: number;
  score: number;
}

/**
 * One image's labels, as every output names them: `owsd predict --json`, the gateway's `POST /v1/classify`, batch
 * results (`owsd batch results`) and the web page. Each adds its own fields beside these (the gateway `cloud`,
 * `keyId`, `scrambled`; predict from a dataset `truth`; a batch `index`, `worker`). docs/json.md.
 */
export interface ImagePredictions {
  /** The file name or path as given, the request field (`image[0]`), or a dataset sample's id. */
  name: string;
  /** Our true labels, best first. */
  predictions: LabelScore[];
}

/** One image's own error, in its place among the others' results (they are unaffected). */
export interface ImageFailure {
  name: string;
  /** Why this image has no labels, naming it. */
  error: string;
  code: ErrorCode;
  /** The request field or input the error is about (`image[1]`, `images[0].data`, `file`, `image`). */
  field?: string;
}

/** One image's outcome: its labels or its own error (`'error' in r` tells them apart). */
export type ImageResult = ImagePredictions | ImageFailure;
