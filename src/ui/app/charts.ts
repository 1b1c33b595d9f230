// Hand-drawn SVG bar charts: the page needs four small charts of at most a few hundred
// bars, which a charting library would multiply the bundle for (README: "Inspector page").
import { s } from './dom.js';

export interface BarChartSpec {
  title: string;
  /** One bar per value; null leaves a gap. */
  values: (number | null)[];
  /** Left edge of each bar on the x axis, and the right edge of the last one: values.length + 1 labels. */
  edges: number[];
  xLabel: string;
  yLabel: string;
  /** Fixed y range top (e.g. 1 for fractions); default the largest value. */
  yMax?: number;
  fmtX?: (x: number) => string;
  fmtY?: (y: number) => string;
  /** Hover text of bar i. */
  tip?: (i: number) => string;
}

const W = 360, H = 180, L = 46, R = 10, T = 24, B = 34;

export function barChart(spec: BarChartSpec): SVGElement {
  const fmtX = spec.fmtX ?? ((x) => String(x));
  const fmtY = spec.fmtY ?? ((y) => String(y));
  const finite = spec.values.filter((v): v is number => v !== null);
  const yMax = spec.yMax ?? Math.max(1e-12, ...finite);
  const x0 = spec.edges[0], x1 = spec.edges[spec.edges.length - 1];
  const px = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (y: number) => H - B - (Math.min(y, yMax) / yMax) * (H - T - B);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': spec.title });
  svg.appendChild(s('text', { x: L, y: 14, class: 'chart-title' }, spec.title));
  // Axes, three y ticks, x ticks at the ends and the middle.
  svg.appendChild(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  svg.appendChild(s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  for (const f of [0, 0.5, 1]) {
    const y = py(yMax * f);
    svg.appendChild(s('text', { x: L - 4, y: y + 3, class: 'tick', 'text-anchor': 'end' }, fmtY(yMax * f)));
    if (f > 0) svg.appendChild(s('line', { x1: L, y1: y, x2: W - R, y2: y, class: 'grid' }));
  }
  const mid = spec.edges[Math.floor(spec.edges.length / 2)];
  for (const [x, anchor] of [[x0, 'start'], [mid, 'middle'], [x1, 'end']] as const) {
    svg.appendChild(s('text', { x: px(x), y: H - B + 13, class: 'tick', 'text-anchor': anchor }, fmtX(x)));
  }
  svg.appendChild(s('text', { x: (L + W - R) / 2, y: H - 4, class: 'axis-label', 'text-anchor': 'middle' }, spec.xLabel));
  svg.appendChild(s('text', { x: 10, y: (T + H - B) / 2, class: 'axis-label', 'text-anchor': 'middle', transform: `rotate(-90 10 ${(T + H - B) / 2})` }, spec.yLabel));
  spec.values.forEach((v, i) => {
    if (v === null) return;
    const xa = px(spec.edges[i]), xb = px(spec.edges[i + 1]);
    const bar = s('rect', { x: xa + 0.5, y: py(v), width: Math.max(0.5, xb - xa - 1), height: Math.max(0, H - B - py(v)), class: 'bar' });
    if (spec.tip) bar.appendChild(s('title', {}, spec.tip(i)));
    svg.appendChild(bar);
  });
  return svg;
}

/** Bin edges lo, lo+w, ..., hi for n bins. */
export function edges(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
}
