/**
 * The one atomic, durable file write (keys, ledgers, bundles, the model cache, converted models): `writeFileAtomic` creates a temporary file
 * exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, so a planted file or symlink is never opened, let alone followed) under
 * a name an attacker cannot predict (the writer's pid, for cleaning up after killed writers, and 64 bits from the
 * OS CSPRNG), writes and fsyncs it, renames it over the target (atomic: readers see the old or the new content,
 * never a torn one) and fsyncs the folder, so the new content survives a crash once the call returns.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fail, type ErrorCode } from '../errors.js';

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
/** Exclusive create that never follows a symlink at the final component. */
export const CREATE_EXCLUSIVE = O_CREAT | O_EXCL | O_WRONLY | (O_NOFOLLOW ?? 0);

/** `.<name>.<pid>.<16 hex>.tmp` in the target's folder. */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(8).toString('hex')}.tmp`);
}

/** The pid in a temp name `tempNameFor(file)` made, or undefined when `name` is not one of them. */
export function tempOwner(file: string, name: string): number | undefined {
  const prefix = `.${path.basename(file)}.`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(\d+)\.[0-9a-f]{16}\.tmp$/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : undefined;
}

export function fsyncFolder(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* some filesystems refuse to fsync a folder; the rename is still atomic */
  }
}

/**
 * Replace `file` with `data` atomically and durably (see the module doc). `mode` is the new file's mode (default
 * 0644; 0600 for anything private). Errors are OwsdErrors naming the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: { mode?: number; code?: ErrorCode } = {}): void {
  const tmp = tempNameFor(file);
  let fd: number;
  try {
    fd = fs.openSync(tmp, CREATE_EXCLUSIVE, opts.mode ?? 0o644);
  } catch (e) {
    return fail(opts.code ?? 'OWSD_ERR_FILE', `cannot write ${file}: cannot create a temporary file in ${path.dirname(file)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    try {
      if (opts.mode !== undefined) fs.fchmodSync(fd, opts.mode);
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    return fail(opts.code ?? 'OWSD_ERR_FILE', `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  fsyncFolder(path.dirname(file));
}

