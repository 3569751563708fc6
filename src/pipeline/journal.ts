/**
 * What came back from the cloud, kept on disk so a rerun after a crash does not resend it. One append-only
 * JSON-lines file per key: `{"id": sample id, "v": base64 float32 vector}`; each batch is appended and fsynced
 * when its answer arrives. A torn last line (crash mid-write) is ignored. Holds cloud outputs only: no image,
 * embedding or key material.
 */
import fs from 'node:fs';
import path from 'node:path';
import { base64ToFloat32, float32ToBase64 } from '../internal/float-base64.js';

/** Answers already received, by sample id: `collectFeatures` sends only what is not in it. */
export interface AnswerJournal {
  has(id: string): boolean;
  get(id: string): Float32Array | undefined;
  append(records: Array<{ id: string; vector: Float32Array }>): void;
}

/** A journal that lives in memory only (experiments that reuse answers within one run). */
export class MemoryJournal implements AnswerJournal {
  private readonly vectors = new Map<string, Float32Array>();

  has(id: string): boolean {
    return this.vectors.has(id);
  }

  get(id: string): Float32Array | undefined {
    return this.vectors.get(id);
  }

  append(records: Array<{ id: string; vector: Float32Array }>): void {
    for (const r of records) this.vectors.set(r.id, r.vector);
  }
}

export class VectorJournal implements AnswerJournal {
  private readonly vectors = new Map<string, Float32Array>();

  private constructor(readonly file: string) {}

  /** The folder is created by the first answer appended, so a run that fails before any answer leaves none. */
  static open(dir: string, keyId: string, cloudId: string): VectorJournal {
    const safe = cloudId.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80);
    const j = new VectorJournal(path.join(dir, `${keyId}--${safe}.jsonl`));
    if (fs.existsSync(j.file)) {
      for (const line of fs.readFileSync(j.file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as { id: string; v: string };
          const v = base64ToFloat32(rec.v);
          if (typeof v !== 'string') j.vectors.set(rec.id, v);
        } catch {
          /* a torn last line from a crash: that batch is sent again */
        }
      }
    }
    return j;
  }

  has(id: string): boolean {
    return this.vectors.has(id);
  }

  get(id: string): Float32Array | undefined {
    return this.vectors.get(id);
  }

  get size(): number {
    return this.vectors.size;
  }

  /** Append a batch durably. */
  append(records: Array<{ id: string; vector: Float32Array }>): void {
    if (records.length === 0) return;
    const body = records
      .map((r) => JSON.stringify({ id: r.id, v: float32ToBase64(r.vector) }))
      .join('\n');
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    // O_NOFOLLOW: a symlink planted at the journal's (predictable) name is refused, never written through.
    const fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | (fs.constants.O_NOFOLLOW ?? 0), 0o644);
    try {
      // Start on a fresh line even if a crash left a torn one.
      fs.writeSync(fd, `\n${body}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    for (const r of records) this.vectors.set(r.id, r.vector);
  }
}

/** Answers journaled in a work folder, all keys and clouds together (0 when it does not exist). */
export function journaledAnswers(dir: string): number {
  let n = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  for (const name of names) {
    const ids = new Set<string>();
    for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line) as { id?: unknown; v?: unknown };
        if (typeof rec.id === 'string' && typeof rec.v === 'string') ids.add(rec.id);
      } catch {
        /* a torn last line */
      }
    }
    n += ids.size;
  }
  return n;
}

