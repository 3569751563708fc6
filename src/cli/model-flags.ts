/**
 * Flags that describe a bare `.onnx` file's preprocessing when it has no sidecar `FILE.onnx.json`:
 * `--resize 256 --crop 224 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 [--labels imagenet-1k|FILE]`.
 * They become a manifest entry (src/models/spec.ts); for models found by name they are ignored.
 */
import type { Command } from 'commander';
import { intOption, usageError } from './run.js';

export interface ModelFlags {
  resize?: number;
  crop?: number;
  mean?: string;
  std?: string;
  labels?: string;
}

function triple(name: string, v: string): number[] {
  const parts = v.split(',').map(Number);
  if (parts.length !== 3 || !parts.every(Number.isFinite)) usageError(name, `${name} expects three comma-separated numbers, got '${v}'`);
  return parts;
}

export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('--resize <n>', 'for a bare .onnx path: resize the shorter side to n (or to n x n without --crop)', intOption('--resize'))
    .option('--crop <n>', 'for a bare .onnx path: centre crop n x n after resizing', intOption('--crop'))
    .option('--mean <r,g,b>', 'for a bare .onnx path: per-channel mean after scaling to [0,1] (default ImageNet\'s)')
    .option('--std <r,g,b>', 'for a bare .onnx path: per-channel std (default ImageNet\'s)')
    .option('--labels <which>', 'for a bare .onnx path: imagenet-1k, cifar-10, cifar-100 or a labels file');
}

/** The manifest-style entry the flags describe, or undefined when none was given. */
export function modelEntry(f: ModelFlags): Record<string, unknown> | undefined {
  if (f.resize === undefined) return undefined;
  const preprocess: Record<string, unknown> = { resize: f.resize };
  if (f.crop !== undefined) preprocess.center_crop = f.crop;
  if (f.mean) preprocess.mean = triple('--mean', f.mean);
  if (f.std) preprocess.std = triple('--std', f.std);
  return { preprocess, ...(f.labels ? { labels: f.labels } : {}) };
}
