// The sample view: the text token by token, coloured by what the teacher thought of each
// token, with the teacher's top-k alternatives of a hovered or clicked token as a bar chart.
import { ApiError, enc, getJson, type SampleView } from './api.js';
import { probColor, top1Color } from './colors.js';
import { fmtInt, h } from './dom.js';
import { type ColorMode, navigate, samplePath } from './routes.js';

interface State { view: SampleView; color: ColorMode; pinned: number | null; root: HTMLElement }
let state: State | null = null;

export async function renderSample(root: HTMLElement, datasetId: string, sampleId: number, color: ColorMode, token: number | null): Promise<void> {
  let view: SampleView;
  try {
    view = await getJson<SampleView>(`/ui/api/datasets/${enc(datasetId)}/samples/${sampleId}`);
  } catch (e) {
    const code = e instanceof ApiError ? `${e.code}: ` : '';
    root.replaceChildren(h('h1', {}, h('a', { href: '/', 'data-nav': true }, 'Datasets'), ` / ${datasetId}`), h('p', { class: 'error' }, `${code}${(e as Error).message}`));
    return;
  }
  const started = performance.now();
  state = { view, color, pinned: token !== null && token <= view.inputIds.length ? token : null, root };
  draw(state);
  // Layout forced inside the measurement, so the figure includes what the browser must do to show it.
  void root.offsetHeight;
  root.dataset.renderMs = (performance.now() - started).toFixed(2);
}

/** What the teacher said at the position before token `j` (which predicts it). */
function prediction(v: SampleView, j: number): { ids: number[]; probs: number[]; rank: number; p: number | null; mass: number } | null {
  if (j < 1 || j > v.inputIds.length) return null;
  const o = (j - 1) * v.k;
  const lps = v.topkLogprobs.slice(o, o + v.k);
  // Ragged top-p datasets pad a position past its kept entries (id 0, null): those are no predictions.
  const nullAt = lps.indexOf(null);
  const n = nullAt < 0 ? v.k : nullAt;
  const ids = v.topkIds.slice(o, o + n);
  const probs = lps.slice(0, n).map((lp) => Math.exp(lp!));
  const rank = j < v.inputIds.length ? ids.indexOf(v.inputIds[j]) : -2;
  return { ids, probs, rank, p: rank >= 0 ? probs[rank] : null, mass: probs.reduce((a, b) => a + b, 0) };
}

function pieceText(v: SampleView, id: number): string {
  const p = v.pieces[id];
  if (p === undefined) return `[${id}]`;
  if (p === '') return '∅';
  return p.replace(/\n/g, '↵\n');
}

function draw(st: State): void {
  const { view: v, root } = st;
  document.title = `${v.datasetId} #${v.sampleId} · logit-cache`;
  const last = v.sampleCount - 1;
  const tokenizerNote = v.tokenizer.source === 'none'
    ? 'No tokenizer: token ids are shown (precompute-logits --tokenizer or serve --tokenizer).'
    : `Tokenizer: ${v.tokenizer.kind} (${v.tokenizer.source === 'dataset' ? 'stored with the dataset' : 'from serve --tokenizer'}).`;
  const batchInput = h('input', { type: 'number', min: 0, max: v.batchCount - 1, value: v.batch, id: 'batch', 'aria-label': 'batch' });
  batchInput.addEventListener('change', () => {
    const b = Math.min(v.batchCount - 1, Math.max(0, Math.floor(Number(batchInput.value))));
    if (Number.isFinite(b)) go(st, b * v.batchSize);
  });
  const select = h('select', { id: 'sample-in-batch', 'aria-label': 'sample in batch' },
    ...Array.from({ length: v.batchSamples }, (_, i) => h('option', { value: v.firstSampleOfBatch + i, selected: i === v.indexInBatch }, `${i} (id ${v.firstSampleOfBatch + i})`)));
  select.addEventListener('change', () => go(st, Number(select.value)));
  const jump = h('input', { type: 'number', min: 0, max: last, placeholder: 'sample id', id: 'jump', 'aria-label': 'jump to sample id' });
  const jumpForm = h('form', { class: 'jump' }, jump, h('button', { type: 'submit' }, 'Go'));
  jumpForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = Math.floor(Number(jump.value));
    if (jump.value !== '' && id >= 0 && id <= last) go(st, id);
    else jump.setCustomValidity(`0 to ${last}`), jump.reportValidity();
  });
  const modes = h('div', { class: 'modes', role: 'radiogroup' }, ...(['prob', 'top1'] as const).map((m) =>
    h('label', {}, h('input', { type: 'radio', name: 'color', value: m, checked: st.color === m, onchange: () => setColor(st, m) }),
      m === 'prob' ? " teacher's p(next token)" : ' top-1 = next token')));

  const text = h('div', { class: 'tokens', id: 'tokens' });
  const frag = document.createDocumentFragment();
  for (let j = 0; j <= v.inputIds.length; j++) {
    const pr = prediction(v, j);
    const span = document.createElement('span');
    span.className = 'tok';
    span.dataset.i = String(j);
    if (j === v.inputIds.length) {
      span.textContent = '▸';
      span.className = 'tok after';
      span.title = 'what the teacher expects after the sample';
    } else {
      span.textContent = pieceText(v, v.inputIds[j]);
      if (pr) span.style.background = st.color === 'prob' ? probColor(pr.p) : top1Color(pr.rank);
      else span.className = 'tok first';
    }
    if (j === st.pinned) span.classList.add('pinned');
    frag.appendChild(span);
  }
  text.appendChild(frag);
  text.addEventListener('mouseover', (e) => {
    const i = tokenIndex(e.target);
    if (i !== null && st.pinned === null) showAlternatives(st, i);
  });
  text.addEventListener('click', (e) => {
    const i = tokenIndex(e.target);
    if (i !== null) pin(st, st.pinned === i ? null : i);
  });

  root.replaceChildren(
    h('h1', {}, h('a', { href: '/', 'data-nav': true }, 'Datasets'), ' / ',
      h('a', { href: `/ui/datasets/${enc(v.datasetId)}`, 'data-nav': true }, v.datasetId), ` / sample ${fmtInt(v.sampleId)}`),
    h('nav', { class: 'picker' },
      h('a', { class: 'button', id: 'prev', href: v.sampleId > 0 ? samplePath(v.datasetId, v.sampleId - 1, st.color) : null, 'data-nav': true, 'aria-disabled': v.sampleId === 0 ? 'true' : null }, '← prev'),
      h('label', {}, 'batch ', batchInput, ` of ${fmtInt(v.batchCount)}`),
      h('label', {}, 'sample ', select),
      h('a', { class: 'button', id: 'next', href: v.sampleId < last ? samplePath(v.datasetId, v.sampleId + 1, st.color) : null, 'data-nav': true, 'aria-disabled': v.sampleId === last ? 'true' : null }, 'next →'),
      jumpForm),
    h('div', { class: 'bar' }, modes, legend(st.color)),
    h('p', { class: 'meta' }, `${fmtInt(v.inputIds.length)} tokens · k = ${v.k} · ${tokenizerNote}`,
      v.tokenizer.error ? h('span', { class: 'error' }, ` Tokenizer not used: ${v.tokenizer.error}`) : null),
    h('div', { class: 'sample-grid' }, text, h('aside', { class: 'alts', id: 'alts' }, h('p', { class: 'hint' }, 'Hover a token to see the teacher\'s alternatives; click to pin.'))),
    h('p', { class: 'keys' }, 'Keys: ← → previous/next sample · [ ] previous/next batch · c colour mode · Shift+← → move the pinned token · / jump · Esc unpin'),
  );
  if (st.pinned !== null) showAlternatives(st, st.pinned);
}

function legend(mode: ColorMode): HTMLElement {
  if (mode === 'top1') {
    return h('div', { class: 'legend' }, sw('var(--agree)', 'top-1'), sw('var(--disagree)', 'in top-k'), sw('var(--outside)', 'outside top-k'));
  }
  return h('div', { class: 'legend' }, sw(probColor(1), 'p = 1'), sw(probColor(0.1), '0.1'), sw(probColor(0.01), '0.01'), sw(probColor(0.001), '≤ 0.001'), sw('var(--outside)', 'outside top-k'));
}
const sw = (bg: string, label: string) => h('span', { class: 'swatch' }, h('i', { style: `background:${bg}` }), label);

function tokenIndex(t: EventTarget | null): number | null {
  const el = (t as HTMLElement | null)?.closest?.('.tok') as HTMLElement | null;
  return el?.dataset.i !== undefined ? Number(el.dataset.i) : null;
}

function showAlternatives(st: State, j: number): void {
  const v = st.view;
  const aside = st.root.querySelector('#alts');
  if (!aside) return;
  const pr = prediction(v, j);
  if (!pr) {
    aside.replaceChildren(h('p', { class: 'hint' }, 'The first token has no prediction: the teacher sees it, it does not predict it.'));
    return;
  }
  const actual = j < v.inputIds.length ? v.inputIds[j] : null;
  const max = Math.max(...pr.probs, 1e-9);
  aside.replaceChildren(
    h('h3', {}, actual === null ? 'After the sample' : `Token ${j}: `, actual === null ? null : h('code', {}, pieceText(v, actual))),
    h('p', { class: 'pinfo' }, actual === null
      ? 'The teacher\'s top-k for the token after the last one.'
      : pr.rank >= 0 ? `p = ${pr.p!.toPrecision(3)}, rank ${pr.rank + 1} of ${v.k}` : `not in the teacher's top-${v.k} (p < ${Math.min(...pr.probs).toPrecision(2)})`),
    h('table', { class: 'altbars' }, ...pr.ids.map((id, r) => h('tr', { class: id === actual ? 'actual' : null },
      h('td', { class: 'rank' }, String(r + 1)),
      h('td', { class: 'piece' }, h('code', {}, pieceText(v, id))),
      h('td', { class: 'barcell' }, h('div', { class: 'altbar', style: `width:${((pr.probs[r] / max) * 100).toFixed(1)}%` })),
      h('td', { class: 'prob' }, pr.probs[r].toFixed(3))))),
    h('p', { class: 'rest' }, `outside the top-${v.k}: ${Math.max(0, 1 - pr.mass).toFixed(3)}`),
  );
}

function pin(st: State, j: number | null): void {
  st.pinned = j;
  for (const el of st.root.querySelectorAll('.tok.pinned')) el.classList.remove('pinned');
  if (j !== null) {
    st.root.querySelector(`.tok[data-i="${j}"]`)?.classList.add('pinned');
    showAlternatives(st, j);
  }
  history.replaceState(null, '', samplePath(st.view.datasetId, st.view.sampleId, st.color, j));
}

function setColor(st: State, mode: ColorMode): void {
  navigate(samplePath(st.view.datasetId, st.view.sampleId, mode, st.pinned), true);
}

function go(st: State, sampleId: number): void {
  navigate(samplePath(st.view.datasetId, sampleId, st.color));
}

/** Keys of the sample view; ignored while typing in a field. */
export function onSampleKey(e: KeyboardEvent): boolean {
  const st = state;
  if (!st || !st.root.isConnected || !st.root.querySelector('#tokens')) return false;
  const tag = (e.target as HTMLElement | null)?.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) return false;
  const v = st.view;
  if (e.shiftKey && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
    const cur = st.pinned ?? 0;
    pin(st, Math.min(v.inputIds.length, Math.max(0, cur + (e.key === 'ArrowRight' ? 1 : -1))));
    return true;
  }
  switch (e.key) {
    case 'ArrowRight': case 'n': if (v.sampleId < v.sampleCount - 1) go(st, v.sampleId + 1); return true;
    case 'ArrowLeft': case 'p': if (v.sampleId > 0) go(st, v.sampleId - 1); return true;
    case ']': if (v.batch < v.batchCount - 1) go(st, (v.batch + 1) * v.batchSize); return true;
    case '[': if (v.batch > 0) go(st, (v.batch - 1) * v.batchSize); return true;
    case 'c': setColor(st, st.color === 'prob' ? 'top1' : 'prob'); return true;
    case 'Escape': pin(st, null); return true;
    case '/': (st.root.querySelector('#jump') as HTMLInputElement | null)?.focus(); return true;
    default: return false;
  }
}
