/**
 * A recording (and optionally misbehaving) HTTP proxy on 127.0.0.1 for tests: it sits in front of a real server
 * (the embedded cloud today, the gateway `owsd serve` later), forwards every request, and keeps every request
 * body as sent, so tests can assert what left the organization and count the images the cloud received.
 *
 * `fault(n, req)` may replace the n-th request's (1-based) fate: answer with a status and body instead of
 * forwarding, forward and then reset the connection (the cloud got it, the client never hears back), reset
 * before forwarding, delay the answer, or rewrite the cloud's answer (partial batch, NaN, wrong length).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Images in a KServe/TF-Serving request body (0 when not one). */
  images: number;
  /** Whether the body was forwarded to the target (what the cloud actually received). */
  forwarded: boolean;
  at: number;
}

export type Fault =
  | { kind: 'answer'; status: number; body: string; headers?: Record<string, string> }
  | { kind: 'reset-before' }
  | { kind: 'reset-after' }
  | { kind: 'delay'; ms: number }
  | { kind: 'rewrite'; rewrite: (cloudBody: any) => unknown };

export interface RecordingProxy {
  url: string;
  requests: Recorded[];
  /** Images forwarded to the target so far. */
  imagesForwarded(): number;
  /** Every request body, concatenated: what an observer of the traffic saw. */
  traffic(): Buffer;
  close(): Promise<void>;
}

/** Images in a request body: KServe V2 `inputs[0].data` (or its shape on the binary wire) or TF Serving `instances`. */
export function imagesInBody(body: Buffer, headers: http.IncomingHttpHeaders = {}): number {
  try {
    // A binary_tensor_data body (fit's default wire): the JSON part is the first Inference-Header-Content-Length bytes.
    const jsonLength = Number(headers['inference-header-content-length']);
    const text = jsonLength > 0 ? body.subarray(0, jsonLength).toString('utf8') : body.toString('utf8');
    const j = JSON.parse(text) as { inputs?: Array<{ data?: unknown[]; shape?: number[]; parameters?: { binary_data_size?: number } }>; instances?: unknown[] };
    if (jsonLength > 0 && j.inputs?.[0]?.parameters?.binary_data_size !== undefined) return j.inputs[0].shape?.[0] ?? 0;
    if (Array.isArray(j.inputs?.[0]?.data)) return j.inputs[0].data.length;
    if (Array.isArray(j.instances)) return j.instances.length;
  } catch {
    /* not JSON */
  }
  return 0;
}

export async function startRecordingProxy(target: string, opts: { fault?: (n: number, req: Recorded) => Fault | undefined; delayMs?: number } = {}): Promise<RecordingProxy> {
  const requests: Recorded[] = [];
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec: Recorded = { n: requests.length + 1, method: req.method!, url: req.url!, headers: req.headers, body, images: imagesInBody(body, req.headers), forwarded: false, at: Date.now() };
      requests.push(rec);
      const fault = opts.fault?.(rec.n, rec);
      if (fault?.kind === 'answer') return void res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body);
      if (fault?.kind === 'reset-before') return void req.socket.destroy();
      rec.forwarded = true;
      const headers = { ...req.headers, host: t.host };
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers }, (ur) => {
        const back: Buffer[] = [];
        ur.on('data', (c: Buffer) => back.push(c));
        ur.on('end', async () => {
          if (fault?.kind === 'reset-after') return void req.socket.destroy();
          const delay = fault?.kind === 'delay' ? fault.ms : opts.delayMs ?? 0;
          if (delay) await new Promise((r) => setTimeout(r, delay));
          let out = Buffer.concat(back);
          if (fault?.kind === 'rewrite') out = Buffer.from(JSON.stringify(fault.rewrite(JSON.parse(out.toString('utf8')))));
          if (res.destroyed) return;
          const h = { ...ur.headers };
          delete h['content-length'];
          delete h['transfer-encoding'];
          res.writeHead(ur.statusCode ?? 502, h).end(out);
        });
      });
      up.on('error', (e) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `proxy: ${e.message}` }));
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    imagesForwarded: () => requests.filter((r) => r.forwarded).reduce((a, r) => a + r.images, 0),
    traffic: () => Buffer.concat(requests.flatMap((r) => [Buffer.from(`${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n`), r.body])),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
