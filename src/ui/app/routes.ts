// Every view has its own URL, so a link opens exactly what its sender saw.
//   /, /ui, /ui/datasets                  all datasets
//   /ui/datasets/:id                      one dataset
//   /ui/datasets/:id/samples/:sampleId    a sample (?color=prob|top1, &t=position selected)
export type Route =
  | { view: 'datasets'; only: string | null }
  | { view: 'sample'; datasetId: string; sampleId: number; color: ColorMode; token: number | null }
  | { view: 'missing'; path: string };

export type ColorMode = 'prob' | 'top1';

export function parseRoute(path: string, search: string): Route {
  const q = new URLSearchParams(search);
  const parts = path.replace(/\/+$/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts[0] === 'ui' && (parts.length === 1 || (parts.length === 2 && parts[1] === 'datasets')))) return { view: 'datasets', only: null };
  if (parts[0] === 'ui' && parts[1] === 'datasets') {
    if (parts.length === 3) return { view: 'datasets', only: parts[2] };
    if (parts.length === 5 && parts[3] === 'samples' && /^(0|[1-9][0-9]*)$/.test(parts[4])) {
      const t = q.get('t');
      return {
        view: 'sample', datasetId: parts[2], sampleId: Number(parts[4]), color: q.get('color') === 'top1' ? 'top1' : 'prob',
        token: t !== null && /^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : null,
      };
    }
  }
  return { view: 'missing', path };
}

export function samplePath(datasetId: string, sampleId: number, color: ColorMode = 'prob', token: number | null = null): string {
  const q = new URLSearchParams();
  if (color !== 'prob') q.set('color', color);
  if (token !== null) q.set('t', String(token));
  const qs = q.toString();
  return `/ui/datasets/${encodeURIComponent(datasetId)}/samples/${sampleId}${qs ? `?${qs}` : ''}`;
}

let onNavigate: (() => void) | null = null;
/** main.ts registers how a URL change is rendered. */
export function setNavigationHandler(fn: () => void): void {
  onNavigate = fn;
}

/** Client-side navigation: a new history entry (or a replaced one), then the view for it. */
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  onNavigate?.();
}
