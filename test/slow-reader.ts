/**
 * The worst case for an early answer: a client that sends a whole body before it reads anything (as fetch may, when
 * the answer arrives while it is still uploading). Raw HTTP/1.1 over a socket, so that the timing is ours: headers,
 * a pause (the server answers), the body, a pause, and only then the reading.
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
