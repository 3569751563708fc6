// The key page: each key's budget and use from /v1/status, a clear warning near the limit, and rotation. In local
// mode (owsd serve --local) no key is used: the page says no submissions are spent, and rotation is not offered.
const $ = (sel) => document.querySelector(sel);
const LOCAL_TEXT = 'local: nothing leaves this machine. Labels come from each image\'s embedding alone; no key is used, no cloud is contacted and no submissions are spent.';
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function fact(dl, term, value) {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dl.append(dt, dd);
  return dd;
}

async function refresh() {
  const s = await (await fetch('/v1/status')).json();
  last = s;
  const w = $('#warning');
  w.hidden = !s.warning;
  w.textContent = s.warning ? `⚠ ${s.warning}` : '';
  const local = s.mode === 'local';
  $('#mode').hidden = !local;
  $('#mode').textContent = local ? LOCAL_TEXT : '';
  if (local) {
    const card = document.createElement('article');
    card.className = 'card key local';
    const p = document.createElement('p');
    p.className = 'usage';
    p.textContent = 'No key in use: this gateway serves locally, so no submissions are spent and there is no budget to watch.';
    card.append(p);
    $('#keys').replaceChildren(card);
    $('.intro').textContent = 'In local mode no key is used: nothing is scrambled or sent, so no submissions are spent and there is nothing to rotate.';
  } else $('#keys').replaceChildren(
    ...s.keys.map((k) => {
      const card = document.createElement('article');
      card.className = `card key${k.warning ? ' near-limit' : ''}`;
      card.dataset.keyId = k.keyId;
      const h = document.createElement('h2');
      h.textContent = `Key ${k.keyId}`;
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = k.budget;
      meter.value = k.used;
      meter.high = Math.round(s.warnAt * k.budget);
      meter.optimum = 0;
      const p = document.createElement('p');
      p.className = 'usage';
      p.textContent = `${k.used} of ${k.budget} submissions used (${pct(k.fraction)}), ${k.remaining} left`;
      card.append(h, meter, p);
      if (k.warning) {
        const warn = document.createElement('p');
        warn.className = 'warn';
        warn.textContent = k.warning;
        card.append(warn);
      }
      return card;
    }),
  );
  const dl = $('#service');
  dl.replaceChildren();
  const v = s.bundle.validation; // {both, embedding, cloud}: {top1} each, as owsd fit --json gives them
  const top1 = (a) => (a.top1 === null ? '-' : pct(a.top1));
  fact(dl, 'bundle', `created ${s.bundle.created}`);
  fact(dl, 'labels', s.bundle.classes.map((c) => c.name).join(', '));
  fact(dl, 'encoder', s.bundle.encoders.join(' + '));
  fact(dl, 'mode', local ? 'local (owsd serve --local): the embedding-alone IIN answers; nothing is sent to any cloud' : 'cloud: images are scrambled with the key and sent');
  fact(dl, 'cloud', local ? 'none contacted (local mode)' : `${s.cloud.model} at ${s.cloud.url}: ${s.cloud.health.detail}`);
  const gain = `cloud gain ${v.cloudGain === null ? '-' : `${(100 * v.cloudGain).toFixed(1)} points`}`;
  fact(dl, 'validation top-1', local
    ? `${top1(v.embedding)} embedding alone, served here (with the cloud ${top1(v.both)}; ${gain})`
    : `${top1(v.both)} (embedding alone ${top1(v.embedding)}; ${gain})`);
  // What an observer who could invert the scrambler would learn, as fit measured it (the words owsd fit prints).
  fact(dl, 'any-inverter bound', s.bound.text).id = 'bound';
  fact(dl, 'served', `${plural(s.served.images, 'image')} in ${plural(s.served.batches, 'batch', 'batches')}`);
  fact(dl, 'rotation', local ? 'not offered: no key is in use (local mode)' : s.rotation.state === 'failed' ? `failed: ${s.rotation.error}` : s.rotation.last ? `last: ${s.rotation.last.replaced.join(', ')} → ${s.rotation.last.keyIds.join(', ')} (${s.rotation.last.seconds.toFixed(1)} s)` : s.rotation.state);
  $('#rotate').disabled = s.rotation.state === 'running' || !s.bundle.rotatable;
  $('#rotate').hidden = local;
  if (local) $('#rotate-state').textContent = 'Rotation is not offered in local mode: no key is in use.';
}

let last = null; // the latest /v1/status, for the confirmation's words

$('#rotate').addEventListener('click', async () => {
  // Rotating sends the stored training set to the cloud again, scrambled with the new key: ask first, saying so.
  const n = last?.bundle.trainImages;
  const ask = `Rotate the key now?\n\nThis makes a new key and sends the stored training set to the cloud again: ${n === undefined ? 'every training image' : plural(n, 'training image')}, scrambled with the new key (${n === undefined ? 'that many' : n} submissions of its budget). The cloud (${last?.cloud.model ?? 'the model'} at ${last?.cloud.url ?? 'its URL'}) sees only scrambled images.`;
  if (!window.confirm(ask)) return;
  const state = $('#rotate-state');
  $('#rotate').disabled = true;
  state.className = 'state';
  state.textContent = 'Rotating: scrambling the training set with a new key and refitting…';
  try {
    const res = await fetch('/v1/keys/rotate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    state.textContent = `Now serving key ${body.keyIds.join(', ')} (${body.seconds.toFixed(1)} s).`;
  } catch (e) {
    state.className = 'state error';
    state.textContent = `Rotation failed: ${e.message}`;
  }
  await refresh();
});

await refresh();
setInterval(() => void refresh().catch(() => undefined), 5000);
