// Entry point: routes the URL to a view, turns in-page links into history entries, and
// hands keys to the sample view.
import { renderDatasets } from './datasets.js';
import { h } from './dom.js';
import { navigate, parseRoute, setNavigationHandler } from './routes.js';
import { onSampleKey, renderSample } from './sample.js';

const root = document.getElementById('app') as HTMLElement;

async function render(): Promise<void> {
  const route = parseRoute(location.pathname, location.search);
  // Each view fills its own element, attached at once: a slow response for a view the user
  // already left then writes into a detached element and is never seen.
  const target = h('main', { 'data-view': route.view });
  root.replaceChildren(target);
  try {
    if (route.view === 'datasets') await renderDatasets(target, route.only);
    else if (route.view === 'sample') await renderSample(target, route.datasetId, route.sampleId, route.color, route.token);
    else target.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No view at ${route.path}. `, h('a', { href: '/', 'data-nav': true }, 'All datasets')));
  } catch (e) {
    target.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
  }
  target.dataset.ready = 'true';
}

setNavigationHandler(() => void render());
window.addEventListener('popstate', () => void render());
document.addEventListener('click', (e) => {
  const a = (e.target as HTMLElement | null)?.closest?.('a[data-nav]') as HTMLAnchorElement | null;
  if (!a || !a.getAttribute('href') || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href') as string);
});
document.addEventListener('keydown', (e) => {
  if (onSampleKey(e)) e.preventDefault();
});
void render();
