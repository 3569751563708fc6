/**
 * Clients that test a server's patience, over raw sockets so that the timing is ours.
 * `postThenRead`: the worst case for an early answer, a client that sends a whole body before it reads anything (as
 * fetch may when the answer arrives while it is still uploading): headers, a pause (the server answers), the body,
 * a pause, and only then the reading. `slowClient`: a slowloris, trickling its request a byte at a time.
 */
import net from 'node:net';

export type SlowReaderResult = { status: number; headers: string; body: string; error?: undefined } | { error: string; status?: undefined; headers?: undefined; body?: undefined };

/** POST `bodyBytes` zero bytes to `url` (http://127.0.0.1:port/path) with that Content-Length, reading the answer only after all of it was sent. */
export function postThenRead(url: string, bodyBytes: number, contentType = 'application/json'): Promise<SlowReaderResult> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    s.pause();
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    const done = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      resolve(m ? { status: Number(m[1]), headers: m[2]!.toLowerCase(), body: m[3]! } : { error: `no HTTP answer (${JSON.stringify(text.slice(0, 80))})` });
      s.destroy();
    };
    s.on('end', done);
    s.write(`POST ${u.pathname} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: ${contentType}\r\ncontent-length: ${bodyBytes}\r\n\r\n`);
    setTimeout(() => {
      s.write(Buffer.alloc(bodyBytes), () =>
        setTimeout(() => {
          s.resume();
          // A kept connection does not end by itself: read what came, then stop.
          setTimeout(done, 300);
        }, 300),
      );
    }, 300);
  });
}

/**
 * A slow client (slowloris): the start of a request to `path` (a POST with a 100,000-byte body, or a GET's headers),
 * then one more byte every `everyMs`; resolves with what it got back and when the server closed the connection.
 */
export function slowClient(port: number, opts: { path: string; body: boolean; everyMs: number }): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let answer = '';
    s.write(opts.body ? `POST ${opts.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{` : `GET ${opts.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    const iv = setInterval(() => s.writable && s.write(opts.body ? ' ' : 'X'), opts.everyMs);
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(iv);
      resolve({ answer, ms: Date.now() - t0 });
    });
  });
}
