/**
 * One error class for the whole library, and one table of codes.
 *
 * Every failure a user can cause carries a stable `code` (OWSD_ERR_*), a message that names the file, field or
 * argument and what was expected, and the HTTP status a server should answer with. The CLI prints `message`
 * (never a stack trace) and exits with `exitCode`.
 */

export const ERRORS = {
  OWSD_ERR_BAD_ARGUMENT: { status: 400, exit: 2, what: 'invalid argument' },
  OWSD_ERR_FILE: { status: 400, exit: 3, what: 'file cannot be read or written' },
  OWSD_ERR_IMAGE: { status: 400, exit: 3, what: 'image cannot be decoded' },
  OWSD_ERR_MANIFEST: { status: 500, exit: 4, what: 'model manifest is invalid' },
  OWSD_ERR_MODEL_NOT_FOUND: { status: 404, exit: 4, what: 'model not found' },
  OWSD_ERR_MODEL_LOAD: { status: 500, exit: 4, what: 'model cannot be loaded' },
  OWSD_ERR_CHECKSUM: { status: 500, exit: 4, what: 'file does not match its sha256' },
  OWSD_ERR_DOWNLOAD: { status: 502, exit: 4, what: 'download failed' },
  OWSD_ERR_KEY: { status: 400, exit: 5, what: 'key file is invalid' },
  OWSD_ERR_KEY_PERMISSIONS: { status: 400, exit: 5, what: 'key file is readable by others' },
  OWSD_ERR_BUDGET: { status: 429, exit: 6, what: 'key submission budget exhausted' },
  OWSD_ERR_SHAPE: { status: 400, exit: 7, what: 'tensor has the wrong shape' },
  OWSD_ERR_DATATYPE: { status: 400, exit: 7, what: 'tensor has the wrong datatype' },
  OWSD_ERR_REQUEST: { status: 400, exit: 7, what: 'request is malformed' },
  OWSD_ERR_TOO_LARGE: { status: 413, exit: 7, what: 'request body is too large' },
  OWSD_ERR_CLOUD_HTTP: { status: 502, exit: 8, what: 'cloud answered with an error' },
  OWSD_ERR_CLOUD_NETWORK: { status: 502, exit: 8, what: 'cloud cannot be reached' },
  OWSD_ERR_CLOUD_TIMEOUT: { status: 504, exit: 8, what: 'cloud did not answer in time' },
  OWSD_ERR_CLOUD_RESPONSE: { status: 502, exit: 8, what: 'cloud response has an unexpected shape' },
  OWSD_ERR_LEAK: { status: 500, exit: 9, what: 'refused to send something that is not a scrambled image' },
  OWSD_ERR_DATASET: { status: 400, exit: 3, what: 'dataset is invalid' },
  OWSD_ERR_BUNDLE: { status: 400, exit: 3, what: 'bundle is invalid' },
  OWSD_ERR_FORBIDDEN: { status: 403, exit: 2, what: 'not allowed from here' },
  OWSD_ERR_BATCH: { status: 500, exit: 10, what: 'batch job failed or is incomplete' },
  OWSD_ERR_BUSY: { status: 409, exit: 1, what: 'another operation is in progress' },
  OWSD_ERR_IMAGE_TIMEOUT: { status: 400, exit: 3, what: 'image took longer than its decode deadline' },
  OWSD_ERR_CANCELLED: { status: 499, exit: 1, what: 'cancelled: the request was abandoned' },
  OWSD_ERR_HOST: { status: 421, exit: 2, what: 'request names a host this server does not serve' },
  OWSD_ERR_CROSS_SITE: { status: 403, exit: 2, what: 'cross-site request refused' },
  OWSD_ERR_INTERNAL: { status: 500, exit: 1, what: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class OwsdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OwsdError';
    this.code = code;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** `e` marked with the request field or input it is about (answered and printed as `field` beside `error` and `code`). */
export function withField<E extends OwsdError>(e: E, field: string): E {
  (e as OwsdError & { field?: string }).field = field;
  return e;
}

/** The field a `withField` error names, if any. */
export function fieldOf(e: OwsdError): string | undefined {
  return (e as OwsdError & { field?: string }).field;
}

/** Shorthand: `fail('OWSD_ERR_FILE', `cannot read ${path}: ...`)` */
export function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new OwsdError(code, message, cause === undefined ? undefined : { cause });
}

export function isOwsdError(e: unknown): e is OwsdError {
  return e instanceof OwsdError;
}

/** A short, single-line description of any thrown value, for wrapping foreign errors. */
export function describe(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name;
  return String(e);
}
