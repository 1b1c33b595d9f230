// The datasets page: settings, totals and four charts per dataset. Charts come from
// /ui/api/datasets/:id/stats, which reads a fixed budget of batches once and caches it.
import { type DatasetList, type DatasetSettings, enc, getJson, type StatsResponse } from './api.js';
import { barChart, edges } from './charts.js';
import { fill, fmtBytes, fmtInt, fmtPct, h } from './dom.js';
import { samplePath } from './routes.js';

export async function renderDatasets(root: HTMLElement, only: string | null): Promise<void> {
  const list = await getJson<DatasetList>('/ui/api/datasets');
  const shown = only === null ? list.datasets : list.datasets.filter((d) => d.datasetId === only);
  document.title = only ? `${only} · logit-cache` : 'Datasets · logit-cache';
  fill(root,
    h('h1', {}, only ? h('a', { href: '/', 'data-nav': true }, 'Datasets') : 'Datasets', only ? ` / ${only}` : null),
    shown.length === 0
      ? h('p', { class: 'empty' }, only ? `No dataset "${only}" under the root.` : 'No datasets under the root yet: run precompute-logits --out <root>.')
      : null,
    ...shown.map((d) => card(d, list)),
    list.unavailable.length && only === null
      ? h('section', { class: 'unavailable' }, h('h2', {}, 'Not served'),
        h('ul', {}, ...list.unavailable.map((u) => h('li', {}, h('b', {}, u.datasetId), `: ${u.reason}`))))
      : null,
  );
  // One stats request at a time: the first view of a large root should not read every dataset at once.
  for (const d of shown) await fillCharts(root.querySelector(`[data-charts="${CSS.escape(d.datasetId)}"]`) as HTMLElement, d);
}

function card(d: DatasetSettings, list: DatasetList): HTMLElement {
  const tok = d.tokenizer
    ? `${d.tokenizer.kind} (${fmtInt(d.tokenizer.vocabSize)} ids, stored)`
    : list.serveTokenizer ? `${list.serveTokenizer.kind} (from serve --tokenizer)` : 'none: ids are shown';
  const rows: [string, string][] = [
    ['teacher', `${d.teacher.file} · vocab ${fmtInt(d.teacher.vocabSize)}${d.teacher.topkOn ? ` · top-k on ${d.teacher.topkOn}` : ''}`],
    ['source', `${d.source.file}${d.source.maxSeqLen ? ` · cut at ${d.source.maxSeqLen}` : ''}`],
    ['top-k', `k = ${d.k} · ${d.values}${d.q8Scale !== null ? ` (scale ${d.q8Scale})` : ''} · ids ${d.indexType}`],
    ['storage', `${d.codec} · ${d.batchSize} samples/batch · ${d.batchesPerShard} batches/shard · format ${d.formatVersion}`],
    ['tokenizer', tok],
    ['written by', `${d.generator.name} ${d.generator.version}`],
  ];
  const totals: [string, string][] = [
    ['samples', fmtInt(d.sampleCount)], ['tokens', fmtInt(d.tokenCount)], ['batches', fmtInt(d.batchCount)],
    ['shards', fmtInt(d.shardCount)], ['size', fmtBytes(d.bytes)], ['bytes/token', d.stats.bytesPerToken.toFixed(2)],
    ['mean top-k mass', fmtPct(d.stats.meanTopkMass)], ['top-1 = next token', fmtPct(d.stats.top1Agreement)],
  ];
  return h('section', { class: 'dataset', 'data-dataset': d.datasetId },
    h('header', {},
      h('h2', {}, h('a', { href: `/ui/datasets/${enc(d.datasetId)}`, 'data-nav': true }, d.datasetId)),
      d.sampleCount > 0 ? h('a', { class: 'button first-sample', href: samplePath(d.datasetId, 0), 'data-nav': true }, 'First sample →') : null),
    h('div', { class: 'cols' },
      h('table', { class: 'settings' }, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
      h('dl', { class: 'totals' }, ...totals.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
    h('div', { class: 'charts', 'data-charts': d.datasetId }, h('p', { class: 'loading' }, 'Reading a sample of batches for the charts…')),
  );
}

async function fillCharts(el: HTMLElement, d: DatasetSettings): Promise<void> {
  let st: StatsResponse;
  try {
    st = await getJson<StatsResponse>(`/ui/api/datasets/${enc(d.datasetId)}/stats`);
  } catch (e) {
    el.replaceChildren(h('p', { class: 'error' }, `Charts unavailable: ${(e as Error).message}`));
    return;
  }
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0) || 1;
  const massN = sum(st.mass.bins), entN = sum(st.entropy.bins);
  const shardEdges = Array.from({ length: st.shards.length + 1 }, (_, i) => i);
  const posEdges = st.top1.buckets.length ? [...st.top1.buckets.map((b) => b.from), st.top1.buckets[st.top1.buckets.length - 1].to] : [0, 1];
  const sampled = st.sampled;
  el.replaceChildren(
    h('p', { class: 'budget' }, sampled.complete
      ? `Charts from all ${fmtInt(sampled.batchCount)} batches (${fmtInt(sampled.positions)} positions).`
      : `Charts from ${fmtInt(sampled.batches.length)} of ${fmtInt(sampled.batchCount)} batches spread evenly over the dataset `
        + `(${fmtInt(sampled.tokens)} of ${fmtInt(sampled.tokenCount)} tokens; budget ${st.budget.maxBatches} batches or ${fmtInt(st.budget.maxTokens)} tokens), computed once per manifest.`),
    h('div', { class: 'chart-grid' },
      barChart({
        title: `Top-k mass Σp (mean ${fmtPct(st.mass.mean)})`, values: st.mass.bins.map((c) => c / massN), edges: edges(0, 1, st.mass.bins.length),
        xLabel: 'probability mass in the cached top-k', yLabel: 'positions', fmtX: (x) => x.toFixed(1), fmtY: fmtPct,
        tip: (i) => `${(i / st.mass.bins.length).toFixed(2)}–${((i + 1) / st.mass.bins.length).toFixed(2)}: ${fmtInt(st.mass.bins[i])} positions`,
      }),
      barChart({
        title: `Entropy of the top-k (mean ${st.entropy.mean.toFixed(2)} nats)`, values: st.entropy.bins.map((c) => c / entN),
        edges: edges(0, st.entropy.max, st.entropy.bins.length), xLabel: `nats (max ln ${st.k} = ${st.entropy.max.toFixed(2)})`, yLabel: 'positions',
        fmtX: (x) => x.toFixed(2), fmtY: fmtPct, tip: (i) => `${fmtInt(st.entropy.bins[i])} positions`,
      }),
      barChart({
        title: `Top-1 = next token by position (overall ${fmtPct(st.top1.overall)})`, values: st.top1.buckets.map((b) => b.agreement), edges: posEdges,
        xLabel: 'position in sample', yLabel: 'agreement', yMax: 1, fmtX: (x) => String(Math.round(x)), fmtY: fmtPct,
        tip: (i) => `positions ${st.top1.buckets[i].from}–${st.top1.buckets[i].to - 1}: ${fmtPct(st.top1.buckets[i].agreement)} of ${fmtInt(st.top1.buckets[i].positions)}`,
      }),
      barChart({
        title: 'Bytes per token by shard', values: st.shards.map((x) => x.bytesPerToken), edges: shardEdges,
        xLabel: 'shard', yLabel: 'bytes/token', fmtX: (x) => String(Math.round(x)), fmtY: (y) => y.toFixed(1),
        tip: (i) => `${st.shards[i].file}: ${st.shards[i].bytesPerToken?.toFixed(2) ?? '–'} bytes/token over ${fmtInt(st.shards[i].tokens)} tokens`,
      }),
    ),
    h('p', { class: 'note' }, `Next token in the top-${st.k}: ${fmtPct(st.top1.inTopk)} of predicted positions.`),
  );
  el.dataset.ready = 'true';
}
