/**
 * The web page in a real browser: Debian's chromium driven by playwright-core (headless, no sandbox, no
 * background networking, a fresh profile; every request outside 127.0.0.1 is refused and counted), against
 * `owsd serve` started as a process, with a real fit and the real embedded cloud on loopback. It uploads a real
 * image and checks what the page shows; screenshots go to artifacts/ (git-ignored), kept as test artefacts.
 *
 * Without chromium (set OWSD_CHROMIUM, default /usr/bin/chromium) the test is skipped with the reason, unless
 * OWSD_REQUIRE_BROWSER=1 (CI sets it), where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { boundSentences, createKey, fit, readBundle, readKeyFile, selectData, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { dataDir, modelsDir, repoRoot, tempDir } from './helpers.js';

const executablePath = process.env.OWSD_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = fs.existsSync(executablePath);
const skip = !haveBrowser && process.env.OWSD_REQUIRE_BROWSER !== '1' ? `no browser at ${executablePath} (apt-get install -y chromium, or set OWSD_CHROMIUM)` : false;
const artifacts = path.join(repoRoot, 'artifacts');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'];

/** `owsd serve` as a child process; resolves with its URL once it listens. */
function serve(args: string[]): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn('node', [path.join(repoRoot, 'dist/src/cli/main.js'), 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve({ url: m[1]!, child, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`owsd serve exited with ${code}: ${err}`)));
  });
}

/** The gateway API's top label for one image file: what the page must show for it. */
async function apiTopLabel(url: string, image: string): Promise<string> {
  const api = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [fs.readFileSync(image).toString('base64')] }) });
  return ((await api.json()) as { results: Array<{ predictions: Array<{ name: string }> }> }).results[0]!.predictions[0]!.name;
}

/** A page in `ctx` whose requests to any host but loopback are aborted and recorded, and whose script errors are kept. */
async function openPage(ctx: BrowserContext): Promise<{ page: Page; outside: string[]; pageErrors: string[] }> {
  const outside: string[] = [];
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'http:' && u.hostname !== '127.0.0.1') {
      outside.push(u.href);
      return route.abort();
    }
    return route.continue();
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { page, outside, pageErrors };
}

test('the web page in chromium: upload a real image, see the original, the scrambled image as sent, the cloud\'s answer and our label; the key page warns near the limit', { skip, timeout: 300_000 }, async () => {
  assert.ok(haveBrowser, `OWSD_REQUIRE_BROWSER=1 but there is no browser at ${executablePath}: apt-get install -y chromium`);
  const dir = tempDir('owsd-web-');
  const keyFile = path.join(dir, 'web.key');
  // No per-submission noise, so that the page's answer can be compared with the API's for the same image.
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(77), imageSize: 64, budget: 40, embeddingNoise: 0 }));
  const data = { path: path.join(dataDir, 'imagenette-val'), labels: 3, perLabel: 12, testFraction: 0.25, seed: 5 };
  const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  let child: ChildProcess | undefined;
  let ctx: BrowserContext | undefined;
  try {
    const bundleDir = path.join(dir, 'web.bundle');
    const fitted = await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data, out: bundleDir, modelsDir, iin: { epochs: 30, hidden: 64, batchSize: 16 } });
    const bundle = readBundle(bundleDir);
    const held = (await selectData(data)).test;
    const image = (held[0]!.image as { path: string }).path;
    // 27 of 40 submissions used by the fit (68%): past --warn-at 0.6, so the key page warns.
    const served = await serve(['--bundle', bundleDir, '--key', keyFile, '--cloud', cloud.url, '--port', '0', '--warn-at', '0.6', '--models', modelsDir]);
    child = served.child;

    // What the API says about the same image, for comparison with the page.
    const expected = await apiTopLabel(served.url, image);

    ctx = await chromium.launchPersistentContext(tempDir('owsd-chromium-'), { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    const { page, outside, pageErrors } = await openPage(ctx);
    await page.goto(`${served.url}/`);
    await page.setInputFiles('#files', image);
    const card = page.locator('#results .card').first();
    await card.locator('.predicted').filter({ hasText: /\S/ }).waitFor({ timeout: 60_000 });

    const predicted = await card.locator('.predicted').textContent();
    assert.ok(predicted!.startsWith(expected), `the page shows ${predicted}, the API said ${expected}`);
    assert.ok(bundle.classNames.some((n) => predicted!.startsWith(n)));
    assert.equal(await card.locator('.name').textContent(), path.basename(image));
    // The original comes from the browser's own memory; the scrambled one is the 64x64 PNG the cloud got.
    type Img = { src: string; complete: boolean; naturalWidth: number; naturalHeight: number };
    const shown = await card.evaluate((el) => {
      const o = el.querySelector('img.original') as unknown as Img;
      const s = el.querySelector('img.scrambled') as unknown as Img;
      return { original: o.src.slice(0, 5), originalLoaded: o.complete && o.naturalWidth > 0, scrambled: s.src.slice(0, 22), width: s.naturalWidth, height: s.naturalHeight };
    });
    assert.deepEqual(shown, { original: 'blob:', originalLoaded: true, scrambled: 'data:image/png;base64,', width: 64, height: 64 });
    assert.equal(await card.locator('ol.cloud li').count(), 5);
    assert.equal(await card.locator('ol.ours li').count(), 3);
    assert.match((await page.locator('#state').textContent())!, /Done: 1 image, scrambled with key k_/);
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'web-classify.png'), fullPage: true });

    await page.goto(`${served.url}/keys`);
    const key = page.locator('#keys .key').first();
    await key.waitFor();
    assert.equal(await key.getAttribute('data-key-id'), readKeyFile(keyFile).id);
    assert.match((await key.locator('.usage').textContent())!, /^29 of 40 submissions used \(72\.5%\), 11 left$/);
    assert.ok(await key.evaluate((el) => el.classList.contains('near-limit')));
    assert.match((await page.locator('#warning').textContent())!, /has used 29 of its 40 submissions/);
    assert.ok(await page.locator('#warning').isVisible());
    // The any-inverter bound fit measured, in the words owsd fit prints (issue 17 item 2).
    assert.ok(fitted.bound);
    assert.equal(await page.locator('#service #bound').textContent(), boundSentences(fitted.bound).join(' '));
    assert.match((await page.locator('#service #bound').textContent())!, /^any-inverter bound \(key no noise; /);
    await page.screenshot({ path: path.join(artifacts, 'web-keys.png'), fullPage: true });

    // Every file its own outcome: an iPhone HEIC the gateway cannot read beside a good image gets its own error
    // card, the good one its prediction (issue 16 item 5).
    const heic = path.join(dir, 'IMG_0001.HEIC');
    fs.writeFileSync(heic, Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic'), Buffer.alloc(2000, 0x5a)]));
    await page.goto(`${served.url}/`);
    await page.setInputFiles('#files', [image, heic]);
    await page.locator('#state').filter({ hasText: /^Done: 1 of 2 images classified/ }).waitFor({ timeout: 60_000 });
    const cards = page.locator('#results .card');
    assert.equal(await cards.count(), 2);
    assert.equal(await cards.nth(0).locator('.name').textContent(), path.basename(image));
    assert.ok((await cards.nth(0).locator('.predicted').textContent())!.startsWith(expected));
    assert.equal(await cards.nth(1).locator('.name').textContent(), 'IMG_0001.HEIC');
    assert.match((await cards.nth(1).locator('.error').textContent())!, /^image\[1\] \('IMG_0001\.HEIC'\): .*HEIC\/HEIF .* is not accepted; convert it to JPEG first/);
    assert.ok(await cards.nth(1).evaluate((el) => el.classList.contains('failed')));
    await page.screenshot({ path: path.join(artifacts, 'web-one-bad-file.png'), fullPage: true });

    // A phone's width (issue 19): at 420 px nothing is wider than the screen, on either page, cards included.
    await page.setViewportSize({ width: 420, height: 900 });
    const overflow = () =>
      page.evaluate(() => {
        const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelectorAll(s: string): ArrayLike<{ getBoundingClientRect(): { right: number }; className: string; tagName: string }> } }).document;
        const wide = Array.from(d.querySelectorAll('body *')).filter((el) => el.getBoundingClientRect().right > d.documentElement.clientWidth + 0.5).map((el) => `${el.tagName}.${el.className}`);
        return { scroll: d.documentElement.scrollWidth, client: d.documentElement.clientWidth, wide };
      });
    const narrow = await overflow();
    assert.equal(narrow.client, 420);
    assert.deepEqual(narrow.wide, [], 'elements past the right edge at 420 px');
    assert.equal(narrow.scroll, 420, 'horizontal scroll at 420 px');
    const img = await cards.nth(0).locator('img.scrambled').boundingBox();
    assert.ok(img && img.width >= 100, `the scrambled image is still shown (${img?.width} px wide)`);
    await page.screenshot({ path: path.join(artifacts, 'web-classify-420.png'), fullPage: true });
    await page.goto(`${served.url}/keys`);
    await page.locator('#keys .key').first().waitFor();
    await page.locator('#service dd').first().waitFor();
    const narrowKeys = await overflow();
    assert.deepEqual(narrowKeys.wide, [], 'elements past the right edge of the key page at 420 px');
    assert.equal(narrowKeys.scroll, 420);
    // "3 images in 2 batches", "1 image in 1 batch": never "1 batches".
    assert.match((await page.locator('#service dd').filter({ hasText: / in \d+ batch/ }).textContent())!, /^(1 image|\d+ images) in (1 batch|\d+ batches)$/);
    assert.doesNotMatch((await page.locator('#service').textContent())!, /\b1 (batches|images)\b/);
    await page.setViewportSize({ width: 1280, height: 900 });

    // Cross-site: a page of another origin on this machine (127.0.0.1, another port) tries the requests from
    // the same browser; the browser sends Origin and Sec-Fetch-Site, and the gateway refuses both (issue 16 item 6).
    const statusBefore = (await (await fetch(`${served.url}/v1/status`)).json()) as { keys: Array<{ keyId: string; used: number }> };
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><form id="f" method="POST" enctype="multipart/form-data" action="${served.url}/v1/classify" target="sink"><input type="file" name="image"></form><iframe name="sink"></iframe><script>
        window.done = (async () => {
          await fetch('${served.url}/v1/keys/rotate', { method: 'POST', mode: 'no-cors' }).catch(() => undefined);
          await fetch('${served.url}/v1/keys/rotate', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' }).catch(() => undefined);
          const fd = new FormData();
          fd.append('image', new Blob([new Uint8Array([255, 216, 255])], { type: 'image/jpeg' }), 'x.jpg');
          await fetch('${served.url}/v1/classify', { method: 'POST', mode: 'no-cors', body: fd }).catch(() => undefined);
          return 'sent';
        })();
      </script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', () => resolve()));
    try {
      const evilPage = await ctx.newPage();
      await evilPage.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      assert.equal(await evilPage.evaluate(() => (globalThis as unknown as { done: Promise<string> }).done), 'sent');
      await evilPage.setInputFiles('#f input', image);
      await evilPage.evaluate(() => (globalThis as unknown as { document: { getElementById(id: string): { submit(): void } } }).document.getElementById('f').submit());
      await evilPage.waitForTimeout(1000);
      await evilPage.close();
    } finally {
      evil.close();
    }
    const statusAfter = (await (await fetch(`${served.url}/v1/status`)).json()) as { keys: Array<{ keyId: string; used: number }>; rotation: { state: string } };
    assert.deepEqual(statusAfter.keys, statusBefore.keys, 'no rotation and no submission from another origin');
    assert.equal(statusAfter.rotation.state, 'idle');
    assert.match(served.stderr(), /^POST \/v1\/keys\/rotate 403 /m);
    assert.match(served.stderr(), /^POST \/v1\/classify 403 /m);

    // The key page's own button still rotates (a same-origin JSON request).
    await page.goto(`${served.url}/keys`);
    await page.locator('#keys .key').first().waitFor();
    // The button asks first, saying what will be sent; cancelled, nothing happens (issue 19).
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    await page.locator('#rotate').click();
    await page.waitForTimeout(500);
    const trainImages = ((await (await fetch(`${served.url}/v1/status`)).json()) as { bundle: { trainImages: number } }).bundle.trainImages;
    assert.equal(asked.length, 1);
    assert.match(asked[0]!, new RegExp(`^confirm: Rotate the key now\\?\\n\\nThis makes a new key and sends the stored training set to the cloud again: ${trainImages} training images, scrambled with the new key \\(${trainImages} submissions of its budget\\)\\. The cloud \\(cifar10-resnet20 at http://127\\.0\\.0\\.1:\\d+\\) sees only scrambled images\\.$`));
    assert.equal(await page.locator('#rotate-state').textContent(), '');
    assert.equal(((await (await fetch(`${served.url}/v1/status`)).json()) as { rotation: { state: string } }).rotation.state, 'idle', 'cancelled: no rotation');
    page.once('dialog', (d) => void d.accept());
    await page.locator('#rotate').click();
    await page.locator('#rotate-state').filter({ hasText: /^Now serving key k_/ }).waitFor({ timeout: 180_000 });
    await page.locator(`#keys .key:not([data-key-id="${readKeyFile(keyFile).id}"])`).first().waitFor({ timeout: 20_000 });
    const rotated = (await (await fetch(`${served.url}/v1/status`)).json()) as { keys: Array<{ keyId: string }>; rotation: { state: string } };
    assert.notEqual(rotated.keys[0]!.keyId, readKeyFile(keyFile).id);
    assert.equal(rotated.rotation.state, 'idle');
    assert.doesNotMatch(JSON.stringify(rotated), new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the status names no path');
    await page.screenshot({ path: path.join(artifacts, 'web-keys-rotated.png'), fullPage: true });

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(outside, [], 'the page asked for nothing outside 127.0.0.1');
    assert.ok(fs.statSync(path.join(artifacts, 'web-classify.png')).size > 10_000);
    assert.doesNotMatch(served.stderr(), /\n\s+at /);
    assert.match(served.stderr(), /^POST \/v1\/classify 200 /m, 'the gateway logs one line per request');
    assert.ok(!served.stderr().includes(Buffer.from(new Uint8Array(32).fill(77)).toString('base64')), 'no secret in the log');
  } finally {
    await ctx?.close();
    child?.kill('SIGTERM');
    await cloud.close();
  }
});

test('the web page in local mode (owsd serve --local): it says nothing leaves this machine, classifies a real image with the embedding-alone IIN, shows no scrambled image or cloud answer, and the key page says no submissions are spent; no connection to any cloud', { skip, timeout: 300_000 }, async () => {
  assert.ok(haveBrowser, `OWSD_REQUIRE_BROWSER=1 but there is no browser at ${executablePath}: apt-get install -y chromium`);
  const dir = tempDir('owsd-web-local-');
  const keyFile = path.join(dir, 'web.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(78), imageSize: 64, budget: 100, embeddingNoise: 0 }));
  const data = { path: path.join(dataDir, 'imagenette-val'), labels: 3, perLabel: 8, testFraction: 0.25, seed: 6 };
  const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  // The bundle names this relay as its cloud: it counts every connection made to the bundle's cloud address.
  let connections = 0;
  const relay = net.createServer((socket) => {
    connections++;
    const upstream = net.connect(cloud.port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
  const relayUrl = `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
  let child: ChildProcess | undefined;
  let ctx: BrowserContext | undefined;
  try {
    const bundleDir = path.join(dir, 'web.bundle');
    await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: relayUrl, modelName: 'cifar10-resnet20' }, data, out: bundleDir, modelsDir, iin: { epochs: 20, hidden: 32, batchSize: 16 } });
    const bundle = readBundle(bundleDir);
    const image = ((await selectData(data)).test[0]!.image as { path: string }).path;
    const afterFit = connections;
    assert.ok(afterFit > 0, 'the relay counts: the fit went through it');
    // No --key: local serving needs none.
    const served = await serve(['--local', '--bundle', bundleDir, '--port', '0', '--models', modelsDir]);
    child = served.child;
    const expected = await apiTopLabel(served.url, image);

    ctx = await chromium.launchPersistentContext(tempDir('owsd-chromium-'), { executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    const { page, outside, pageErrors } = await openPage(ctx);
    await page.goto(`${served.url}/`);
    const mode = page.locator('#mode');
    await mode.filter({ hasText: /\S/ }).waitFor({ timeout: 20_000 });
    assert.ok(await mode.isVisible());
    assert.match((await mode.textContent())!, /^local: nothing leaves this machine\. .*no submissions are spent\.$/);
    assert.match((await page.locator('#model').textContent())!, /local: no cloud, no key, no submissions spent/);
    await page.setInputFiles('#files', image);
    const card = page.locator('#results .card').first();
    await card.locator('.predicted').filter({ hasText: /\S/ }).waitFor({ timeout: 60_000 });
    const predicted = await card.locator('.predicted').textContent();
    assert.ok(predicted!.startsWith(expected), `the page shows ${predicted}, the API said ${expected}`);
    assert.ok(bundle.classNames.some((n) => predicted!.startsWith(n)));
    assert.equal(await card.locator('img.scrambled').count(), 0, 'no scrambled image: nothing was sent');
    assert.equal(await card.locator('ol.cloud').count(), 0, 'no cloud answer');
    assert.equal(await card.locator('ol.ours li').count(), 3);
    assert.match((await card.locator('figure small').first().textContent())!, /sent nowhere/);
    assert.equal((await page.locator('#state').textContent())!, 'Done: 1 image, locally, nothing sent.');
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'web-local-classify.png'), fullPage: true });

    await page.goto(`${served.url}/keys`);
    const usage = page.locator('#keys .usage').first();
    await usage.waitFor();
    assert.match((await usage.textContent())!, /^No key in use: this gateway serves locally, so no submissions are spent/);
    assert.ok(await page.locator('#mode').isVisible());
    assert.equal(await page.locator('#rotate').isVisible(), false, 'rotation is not offered');
    assert.match((await page.locator('#rotate-state').textContent())!, /not offered in local mode/);
    assert.match((await page.locator('#service').textContent())!, /none contacted \(local mode\)/);
    await page.screenshot({ path: path.join(artifacts, 'web-local-keys.png'), fullPage: true });

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(outside, [], 'the page asked for nothing outside 127.0.0.1');
    assert.equal(connections, afterFit, 'no connection to the bundle\'s cloud address while serving locally');
    assert.doesNotMatch(served.stderr(), /\n\s+at /);
  } finally {
    await ctx?.close();
    child?.kill('SIGTERM');
    relay.close();
    await cloud.close();
  }
});
