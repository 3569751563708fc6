/**
 * Files beside a key, a ledger or a bundle: written with the one atomic, durable write (src/internal/files.ts,
 * re-exported here); `checkPrivateFolder` refuses a folder others could plant files in.
 */
import fs from 'node:fs';
import { fail, type ErrorCode } from '../errors.js';

export { CREATE_EXCLUSIVE, tempNameFor, tempOwner, fsyncFolder, writeFileAtomic } from '../internal/files.js';

/**
 * Refuse a folder that another user could plant files in: writable by group or others, or owned by someone other
 * than this user (or root). `what` names it in the error, e.g. "key folder".
 */
export function checkPrivateFolder(dir: string, what: string, code: ErrorCode = 'OWSD_ERR_KEY_PERMISSIONS'): void {
  if (process.platform === 'win32') return;
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    return fail(code, `${what} ${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    return fail(code, `${what} ${dir} belongs to another user (uid ${st.uid}, not ${uid}): keep keys and their ledgers in a folder of your own`);
  }
  if ((st.mode & 0o022) !== 0) {
    return fail(code, `${what} ${dir} is writable by ${(st.mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)}): others could plant files beside the key; run chmod go-w ${dir}, or move the key to a private folder`);
  }
}
