/** sha256 of model files, streamed, remembered per (path, size, mtime) so a file is hashed once per process. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fail } from '../errors.js';

const verified = new Map<string, string>();

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  try {
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message;
    return fail('OWSD_ERR_FILE', `cannot read ${file}: ${why}`);
  }
  return hash.digest('hex');
}

/** Throws OWSD_ERR_CHECKSUM naming the file and both digests when the file does not match. */
export async function verifySha256(file: string, expected: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return fail('OWSD_ERR_MODEL_NOT_FOUND', `model file ${file} does not exist`);
  }
  const key = `${file}:${stat.size}:${stat.mtimeMs}`;
  if (verified.get(key) === expected) return;
  const actual = await sha256File(file);
  if (actual !== expected.toLowerCase()) {
    return fail('OWSD_ERR_CHECKSUM', `${file} has sha256 ${actual}, but its manifest expects ${expected}: the file is corrupt or not the model named`);
  }
  verified.set(key, expected);
}
