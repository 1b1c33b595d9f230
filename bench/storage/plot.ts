// A dependency-free SVG scatter plot: bytes per token (x) against an error (y, log scale).
export interface Point { x: number; y: number; series: string; label: string }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function scatterSvg(points: Point[], o: { title: string; xLabel: string; yLabel: string; yFloor: number; targets: { x: number; y: number; label: string }[] }): string {
  const W = 820, H = 520, L = 80, R = 220, T = 40, B = 60;
  const ys = points.map((p) => Math.max(p.y, o.yFloor));
  const xMax = Math.max(...points.map((p) => p.x), ...o.targets.map((t) => t.x)) * 1.05;
  const yLo = Math.floor(Math.log10(Math.min(...ys))), yHi = Math.ceil(Math.log10(Math.max(...ys, ...o.targets.map((t) => t.y))));
  const sx = (x: number): number => L + (x / xMax) * (W - L - R);
  const sy = (y: number): number => T + ((yHi - Math.log10(Math.max(y, o.yFloor))) / (yHi - yLo || 1)) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2 - R / 2}" y="20" text-anchor="middle" font-size="14">${esc(o.title)}</text>`];
  for (let e = yLo; e <= yHi; e++) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${sy(10 ** e)}" y2="${sy(10 ** e)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${sy(10 ** e) + 4}" text-anchor="end">${e === yLo && 10 ** e <= o.yFloor ? `≤1e${e}` : `1e${e}`}</text>`);
  }
  const step = xMax > 100 ? 50 : xMax > 40 ? 10 : 5;
  for (let x = 0; x <= xMax; x += step) {
    out.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`, `<text x="${sx(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 15}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  for (const t of o.targets) {
    // The target region: at most t.x bytes and at most t.y error (lower left of the corner).
    out.push(`<rect x="${L}" y="${sy(t.y)}" width="${sx(t.x) - L}" height="${H - B - sy(t.y)}" fill="#2ca02c" fill-opacity="0.06" stroke="#2ca02c" stroke-dasharray="4 3"/>`,
      `<text x="${sx(t.x) - 4}" y="${sy(t.y) - 4}" text-anchor="end" fill="#2ca02c">${esc(t.label)}</text>`);
  }
  const series = [...new Set(points.map((p) => p.series))];
  points.forEach((p) => {
    const c = COLORS[series.indexOf(p.series) % COLORS.length];
    out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3.5" fill="${c}" fill-opacity="0.75"><title>${esc(`${p.series}: ${p.label} (${p.x.toFixed(2)} B/token, ${p.y.toExponential(2)})`)}</title></circle>`);
  });
  series.forEach((s, i) => {
    out.push(`<circle cx="${W - R + 20}" cy="${T + 10 + i * 18}" r="4" fill="${COLORS[i % COLORS.length]}"/>`, `<text x="${W - R + 30}" y="${T + 14 + i * 18}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
