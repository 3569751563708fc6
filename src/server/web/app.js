// The classify page: send the chosen images to /v1/classify (multipart) and show, per image, the original (from
// this browser's memory only), the scrambled PNG exactly as sent, the cloud's answer and our prediction. In local
// mode (owsd serve --local) nothing is scrambled or sent: the page says so and shows the original and our label.
const $ = (sel) => document.querySelector(sel);
/** The words the pages show in local mode (keys.js has the same banner). */
const LOCAL_TEXT = 'local: nothing leaves this machine. Labels come from each image\'s embedding alone; no key is used, no cloud is contacted and no submissions are spent.';
let mode; // resolves to 'local' or 'cloud' from the first status
const pct = (x) => `${(100 * x).toFixed(1)}%`;

function labelList(ol, labels) {
  ol.replaceChildren(
    ...labels.map((l) => {
      const li = document.createElement('li');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, Math.round(100 * l.score))}%`;
      const text = document.createElement('span');
      text.textContent = `${l.name} · ${pct(l.score)}`;
      li.append(bar, text);
      return li;
    }),
  );
}

async function showWarning() {
  try {
    const s = await (await fetch('/v1/status')).json();
    const w = $('#warning');
    w.hidden = !s.warning;
    w.textContent = s.warning ? `⚠ ${s.warning}` : '';
    const v = s.bundle.validation; // {both, embedding, cloud}: {top1} each, as owsd fit --json gives them
    const top1 = (a) => (a.top1 === null ? '-' : pct(a.top1));
    const local = s.mode === 'local';
    $('#mode').hidden = !local;
    $('#mode').textContent = local ? LOCAL_TEXT : '';
    if (local) $('.intro').textContent = 'Drop images to classify them. This gateway serves locally: each image is classified here, from its embedding alone, and nothing is sent to any cloud.';
    $('#model').textContent = local
      ? `${s.bundle.classes.length} labels · encoder ${s.bundle.encoders.join(' + ')} · local: no cloud, no key, no submissions spent · validation top-1 (embedding alone) ${top1(v.embedding)}`
      : `${s.bundle.classes.length} labels · encoder ${s.bundle.encoders.join(' + ')} · cloud ${s.cloud.model} (${s.cloud.health.ok ? 'ready' : 'unreachable'}) · key ${s.keys.map((k) => k.keyId).join(', ')} · validation top-1 ${top1(v.both)}`;
    return s.mode;
  } catch {
    return undefined; /* the status is a nicety here */
  }
}

async function classify(files) {
  if (files.length === 0) return;
  const state = $('#state');
  state.className = 'state';
  state.textContent = `Classifying ${files.length} image${files.length > 1 ? 's' : ''}…`;
  const form = new FormData();
  for (const f of files) form.append('image', f, f.name);
  let body;
  try {
    const res = await fetch('/v1/classify?details=true&top=5', { method: 'POST', body: form });
    body = await res.json();
    // Every image has its own outcome: a request where every image failed still lists each image's error.
    if (!Array.isArray(body.results)) throw new Error(body.error ?? `HTTP ${res.status}`);
  } catch (e) {
    state.className = 'state error';
    state.textContent = `Could not classify: ${e.message}`;
    return;
  }
  const failed = body.results.filter((r) => r.error).length;
  const n = files.length;
  const plural = (k) => `${k} image${k > 1 ? 's' : ''}`;
  const local = (await mode) === 'local';
  const how = local ? 'locally, nothing sent' : `scrambled with key ${body.keyIds.join(', ')}`;
  if (failed === 0) state.textContent = `Done: ${plural(n)}, ${how}.`;
  else {
    state.className = 'state error';
    state.textContent = failed === n ? `Could not classify: none of the ${plural(n)} could be read (see each below).` : `Done: ${n - failed} of ${plural(n)} classified, ${how}; ${failed} could not be read (see below).`;
  }
  // Each result is the per-image result of predict --json and batch results (src/types.ts ImageResult, docs/json.md):
  // {name, predictions} (here with cloud, keyId, scrambled) or {name, error, code, field}.
  const cards = body.results.map((r, i) => {
    if (r.error) {
      const card = document.createElement('article');
      card.className = 'card failed';
      const h = document.createElement('h2');
      h.className = 'name';
      h.textContent = r.name;
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = r.error;
      card.append(h, p);
      return card;
    }
    const card = $('#card').content.firstElementChild.cloneNode(true);
    card.querySelector('.name').textContent = r.name;
    card.querySelector('.original').src = URL.createObjectURL(files[i]);
    if (local) {
      // Nothing was scrambled or sent: no scrambled image and no cloud answer to show.
      card.querySelector('.scrambled').closest('figure').remove();
      card.querySelector('ol.cloud').closest('.col').remove();
      card.querySelector('.original').closest('figure').querySelector('small').textContent = 'from this browser; classified on this gateway, sent nowhere';
    } else {
      card.querySelector('.scrambled').src = r.scrambled;
      labelList(card.querySelector('ol.cloud'), r.cloud);
    }
    labelList(card.querySelector('ol.ours'), r.predictions);
    card.querySelector('.predicted').textContent = r.predictions[0] ? `${r.predictions[0].name} (${pct(r.predictions[0].score)})` : '-';
    return card;
  });
  $('#results').prepend(...cards);
  void showWarning();
}

const input = $('#files');
input.addEventListener('change', () => classify([...input.files]));
const drop = $('#drop');
for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  classify([...e.dataTransfer.files]); // every file gets its own outcome (an unreadable one its own error)
});
mode = showWarning();
